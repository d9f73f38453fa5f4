"""Which data and which split an ``alignuser eval`` protocol runs on (one rule for all).

The data of a protocol come from one of

* a dataset folder or file (``data``), read by the detected loader or the one ``fmt`` names,
  with loader ``options`` (e.g. the generic loader's ``columns``, ``items``,
  ``split_column``);
* a scenario YAML (``scenario``): its ``dataset:`` section, and its ``split:`` unless a split
  is given;
* nothing: the protocol's shared default dataset (``agent4rec-ml1m`` for taste...).

The split is a :class:`SplitChoice` (``alignuser eval ... --split``): ``auto`` (the split the
dataset ships, else temporal when it has timestamps, else random), ``provided[:NAME]``,
``temporal``, ``random``, ``leave-last-n`` or ``column:COL`` (the values ``train`` /
``valid`` / ``test`` of a column of a generic CSV). Impression protocols (next action,
replay) cut the pages in time instead.

Every problem is a :class:`~alignuser.errors.DatasetError` with one line that says what is
missing and how to give it (:func:`require`); the CLI prints it without a traceback.

Example:
    >>> SplitChoice.parse("column:fold")
    SplitChoice(method='column', name='fold', test_fraction=0.2, valid_fraction=0.0, n_test=1, seed=0)
    >>> parse_options(["columns.user=uid", "columns.item=iid", "sep=';'"])
    {'columns': {'user': 'uid', 'item': 'iid'}, 'sep': ';'}
"""  # noqa: E501

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignuser.errors import DatasetError

__all__ = ["EvalData", "SplitChoice", "load_eval_data", "parse_options", "require"]

_METHODS = ("auto", "provided", "temporal", "random", "leave_last_n", "column", "none")
IMPRESSION_FORMAT = (
    "an impressions log (the pages shown, with clicks): a loader that reads one (ebnerd, obd), "
    "a generic CSV with one row per item shown (-o columns.page=COL -o columns.click=COL), or "
    "a Parquet file with impression_id, user_id, timestamp, items, clicked"
)


@dataclass(frozen=True)
class SplitChoice:
    """A split named as on the command line (see :func:`~alignuser.data.splits.make_split`)."""

    method: str = "auto"
    name: str | None = None
    test_fraction: float = 0.2
    valid_fraction: float = 0.0
    n_test: int = 1
    seed: int = 0

    @classmethod
    def parse(cls, text: str | None, **kw: Any) -> SplitChoice:
        """``"temporal"``, ``"random"``, ``"leave-last-n"``, ``"provided[:NAME]"``,
        ``"column:COL"`` or ``"auto"``; ``kw`` sets the fractions, ``n_test``, ``seed``.
        """  # noqa: D205
        kw = {k: v for k, v in kw.items() if v is not None}
        method, _, name = (text or "auto").partition(":")
        method = method.strip().replace("-", "_")
        if method not in _METHODS:
            raise DatasetError(
                f"unknown split {text!r}; use auto, temporal, random, leave-last-n, "
                "provided[:NAME] or column:COLUMN"
            )
        if method == "column" and not name:
            raise DatasetError("split column needs the column's name: --split column:COLUMN")
        return cls(method, name or None, **kw)

    def label(self) -> str:
        """Short text for tables (``temporal 0.2``, ``column:fold``...)."""
        if self.method in ("temporal", "random"):
            return f"{self.method} {self.test_fraction:g}"
        if self.method == "leave_last_n":
            return f"leave_last_{self.n_test}"
        return self.method + (f":{self.name}" if self.name else "")


@dataclass(eq=False)
class EvalData:
    """A loaded dataset and the split a protocol uses (``None``: impressions, cut in time)."""

    dataset: Any
    split: Any = None
    source: str = ""
    split_label: str = ""


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` loader options (values read as YAML; dotted keys nest)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, raw = item.partition("=")
        if not eq or not key.strip():
            raise DatasetError(
                f"loader option {item!r}: expected KEY=VALUE (e.g. columns.user=uid)"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise DatasetError(f"loader option {item!r}: value is not YAML: {exc}") from None
        *parents, leaf = key.strip().split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise DatasetError(f"loader option {item!r}: {p} is already a value")
        node[leaf] = value
    return out


def _is_impressions_parquet(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() in (".parquet", ".pq")):
        return False
    import pyarrow.parquet as pq

    return {"items", "clicked"} <= set(pq.read_schema(path).names)


def _load(data, fmt: str | None, options: dict, split: SplitChoice):
    from alignuser.data.loaders import load_dataset

    path = Path(data)
    if not path.exists():
        raise DatasetError(f"dataset path {path} does not exist (--data)")
    if fmt is None and not options and _is_impressions_parquet(path):
        from alignuser.data.tables import Impressions
        from alignuser.evaluation.replay import impressions_dataset

        return impressions_dataset(Impressions.read_parquet(path), name=path.stem)
    if split.method == "column":
        generic = fmt == "generic" or (fmt is None and path.is_file())
        if not generic:
            raise DatasetError(
                f"--split column:{split.name} reads a column of a generic CSV/Parquet file; "
                f"{path} is not one (give a generic file, or another --split)"
            )
        options = {**options, "split_column": options.get("split_column", split.name)}
    try:
        return load_dataset(path, format=fmt, **options)
    except TypeError as exc:  # an option the loader does not take
        raise DatasetError(f"{path}: loader option not understood: {exc}") from None
    except KeyError as exc:  # unknown format name
        raise DatasetError(f"--format: {exc.args[0] if exc.args else exc}") from None


def _scenario_data(path: Path):
    from alignuser.data.scenario_data import load_data
    from alignuser.errors import ScenarioError
    from alignuser.scenario import load_scenario

    try:
        sc = load_scenario(path)
    except ScenarioError as exc:
        raise DatasetError(str(exc).splitlines()[0]) from None
    sp = sc.split
    choice = SplitChoice(sp.method, sp.name, sp.test_fraction, sp.valid_fraction, sp.n_test,
                         sc.seed)  # fmt: skip
    return load_data(sc), choice


def load_eval_data(
    data=None,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    scenario: str | Path | None = None,
    split: SplitChoice | str | None = None,
    default: str | Path | None = None,
    impressions: bool | str = False,
) -> EvalData:
    """The dataset and split of one protocol run.

    Args:
        data: Dataset folder or file, an already loaded
            :class:`~alignuser.data.dataset.Dataset`, or an :class:`EvalData` (returned as
            is); ``None``: the scenario's dataset, else ``default``.
        fmt: Loader name (default: detected).
        options: Loader options (``parse_options`` of ``--option`` flags).
        scenario: Scenario YAML whose ``dataset:`` (when ``data`` is ``None``) and
            ``split:`` (when ``split`` is ``None``) are used.
        split: The split (a :class:`SplitChoice` or its text); ``None``: the scenario's,
            else ``auto``.
        default: The protocol's default dataset path.
        impressions: The protocol replays pages: no split is made (``split`` is ``None``);
            the dataset must have impressions (see :func:`require`). ``"auto"``: so when
            the dataset has impressions, else the split is made.

    Raises:
        DatasetError: One line naming what is missing and the option that gives it.
    """
    from alignuser.data.dataset import Dataset
    from alignuser.data.splits import make_split

    if isinstance(data, EvalData):
        return data
    if isinstance(split, str):
        split = SplitChoice.parse(split)
    chosen = split
    source = ""
    if isinstance(data, Dataset):
        ds, source = data, data.name
    elif data is None and scenario is not None:
        ds, from_scenario = _scenario_data(Path(scenario))
        chosen, source = split or from_scenario, f"{scenario} (dataset:)"
    else:
        path = data if data is not None else default
        if path is None:
            raise DatasetError("no dataset: give --data PATH (or --scenario FILE)")
        chosen = split or SplitChoice()
        ds, source = _load(path, fmt, dict(options or {}), chosen), str(path)
    chosen = chosen or SplitChoice()
    has_pages = ds.impressions is not None and len(ds.impressions) > 0
    if impressions is True or (impressions == "auto" and has_pages):
        return EvalData(ds, None, source, "impressions cut in time")
    sp = make_split(ds, chosen.method, chosen.test_fraction, chosen.valid_fraction,
                    chosen.n_test, chosen.seed, chosen.name)  # fmt: skip
    return EvalData(ds, sp, source, sp.name or chosen.label())


def require(protocol: str, ed: EvalData) -> EvalData:
    """Check that ``ed`` has what ``protocol`` needs; one-line errors otherwise.

    ``taste`` needs held-out items of users with a training history; ``rating`` explicit
    ratings in the test part; ``fidelity`` held-out users with a training history (rating
    logs) or impressions; ``next_action`` and ``replay`` impressions with timestamps that
    leave pages on both sides of the time cut; ``selection`` a test part.
    """
    ds, sp = ed.dataset, ed.split
    name = ds.name
    has_pages = ds.impressions is not None and len(ds.impressions) > 0
    if protocol in ("next_action", "replay"):
        if not has_pages:
            raise DatasetError(
                f"{protocol.replace('_', '-')} needs {IMPRESSION_FORMAT}; dataset {name!r} has "
                "interactions only (use taste, rating, fidelity or selection on it)"
            )
        ts = ds.impressions.df["timestamp"]
        if ts.nunique() < 2:
            raise DatasetError(
                f"{protocol.replace('_', '-')} cuts the pages of {name!r} in time, but they have "
                "fewer than 2 distinct timestamps; give the pages' timestamps"
            )
        return ed
    if sp is None:
        if protocol == "fidelity" and has_pages:
            return ed
        raise DatasetError(f"{protocol}: dataset {name!r} needs a split (--split)")
    train_users = set(sp.train.df["user_id"].unique().tolist())
    held = sp.test.df if sp.valid is None else sp.test.concat(sp.valid).df
    if not len(sp.train):
        raise DatasetError(
            f"split {sp.name!r} of {name!r} has an empty training part; give another --split"
        )
    if protocol in ("taste", "fidelity") and not has_pages:
        if not set(held["user_id"].unique().tolist()) & train_users:
            raise DatasetError(
                f"{protocol}: no test user of {name!r} has training history under split "
                f"{sp.name!r} (a user-disjoint split?); give --split temporal, random or "
                "leave-last-n"
            )
    if protocol == "rating":
        if not sp.test.df["rating"].notna().any():
            raise DatasetError(
                f"rating needs explicit ratings, but the test part of {name!r} has none "
                "(implicit clicks); for a generic CSV map your rating column "
                "(--option columns.rating=COLUMN), else use taste"
            )
    return ed


def with_split(ed: EvalData):
    """The dataset with the chosen split as its only shipped split, named ``provided``."""
    if ed.split is None:
        return ed.dataset
    return dataclasses.replace(ed.dataset, splits={"provided": ed.split})
