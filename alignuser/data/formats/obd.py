"""Open Bandit Dataset (ZOZOTOWN): slot-level impressions with clicks and propensities.

One log is a logging policy (``random`` = uniform random, ``bts`` = Bernoulli Thompson
Sampling) x a campaign (``all``, ``men``, ``women``): ``{policy}/{campaign}/{campaign}.csv``
beside its ``item_context.csv`` (see ``../shared/data/obd-small/README.md``). Each row is one
(impression, slot): the item shown in that slot (position 1 = left, 2 = centre, 3 = right),
whether it was clicked and the propensity with which the logging policy chose it. The three
slots of one page view cannot be regrouped (each row is sampled independently), so:

* ``dataset.impressions``: one **one-item page per row**, in log order, tagged with the extra
  columns ``position`` (1..3), ``propensity``, ``policy``, ``campaign`` and ``affinity``
  (the row's user-item affinity vector, one float per item); ``timestamp`` in Unix seconds
  (sub-second order kept by the row order); ``impression_id`` is the log's row index.
* ``dataset.users``: a user is a **user context**, the combination of the four hashed
  ``user_feature_0..3`` (about 200-250 per log); they are kept as columns. OBD has no user
  ids; rows with the same context are treated as the same user.
* ``dataset.interactions``: the clicks (implicit, rating NaN) at their timestamps.
* ``dataset.catalog``: the log's items from the ``item_context.csv`` next to it (never one
  from another folder: the hashed features differ between policy folders): titles
  ``"item <id>"``, genres the hashed ``item_feature_1..3`` as ``f1:<hash>`` tags,
  ``item_feature_0`` kept as a column and in ``text``. Statistics come from the clicks.
* ``dataset.scale`` is ``None`` (clicks only).

``path`` is one log folder (``obd-small/bts/men``), or a policy folder or the root with
``policy=`` / ``campaign=`` (defaults ``random`` and ``all``).

Example:
    >>> from alignuser.data.formats.obd import ObdLoader
    >>> ds = ObdLoader().load("../shared/data/obd-small", policy="bts", campaign="men")  # doctest: +SKIP
    >>> ds.impressions.df[["position", "propensity"]].head(1)  # doctest: +SKIP
"""  # noqa: E501

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset
from alignuser.data.tables import Catalog, Impressions, Interactions, Users
from alignuser.errors import DatasetError

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
USER_FEATURES = [f"user_feature_{i}" for i in range(4)]


def log_folder(path: Path, policy: str | None = None, campaign: str | None = None) -> Path:
    """The ``{policy}/{campaign}`` folder of ``path`` (itself, when it is one)."""
    path = Path(path)
    if _is_log(path):
        for name, value, allowed in (("policy", policy, path.parent.name),
                                     ("campaign", campaign, path.name)):  # fmt: skip
            if value is not None and value != allowed:
                raise DatasetError(f"obd: {path} is the {allowed!r} log, not {name}={value!r}")
        return path
    for name, value, allowed in (("policy", policy, POLICIES), ("campaign", campaign, CAMPAIGNS)):
        if value is not None and value not in allowed:
            raise DatasetError(f"obd: {name}={value!r}; use one of {list(allowed)}")
    campaign = campaign or "all"
    for cand in (path / campaign, path / (policy or "random") / campaign):
        if _is_log(cand):
            return cand
    raise DatasetError(
        f"obd: no {policy or 'random'}/{campaign} log under {path} (expected "
        f"{{policy}}/{{campaign}}/{{campaign}}.csv and item_context.csv)"
    )


def _is_log(folder: Path) -> bool:
    return (folder / "item_context.csv").is_file() and (folder / f"{folder.name}.csv").is_file()


def _seconds(values: pd.Series) -> np.ndarray:
    dt = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    if dt.isna().any():
        bad = values[dt.isna()].iloc[0]
        raise DatasetError(f"obd: unreadable timestamp {bad!r}")
    return ((dt - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


class ObdLoader:
    """Open Bandit Dataset logs (see the module docstring)."""

    name = "obd"

    def detect(self, path: Path) -> bool:
        """True for an OBD log folder, policy folder or root (``random``/``bts`` inside)."""
        p = Path(path)
        if not p.is_dir():
            return False
        if _is_log(p):
            return p.name in CAMPAIGNS
        kids = [p / c for c in CAMPAIGNS] + [p / q / c for q in POLICIES for c in CAMPAIGNS]
        return any(_is_log(k) for k in kids)

    def load(self, path: Path, policy: str | None = None, campaign: str | None = None) -> Dataset:
        """Read one log (``policy`` x ``campaign``) and its item context."""
        folder = log_folder(Path(path), policy, campaign)
        pol, camp = folder.parent.name, folder.name
        log = pd.read_csv(folder / f"{camp}.csv", index_col=0)
        need = ["timestamp", "item_id", "position", "click", "propensity_score", *USER_FEATURES]
        missing = [c for c in need if c not in log.columns]
        if missing:
            raise DatasetError(f"obd: {folder / (camp + '.csv')} lacks column(s) {missing}")
        items = pd.read_csv(folder / "item_context.csv", index_col=0)
        n_items = len(items)
        if not np.array_equal(np.sort(items["item_id"].to_numpy()), np.arange(n_items)):
            raise DatasetError(f"obd: {folder / 'item_context.csv'} item ids are not 0..n-1")
        bad = ~log["item_id"].between(0, n_items - 1)
        if bad.any():
            raise DatasetError(f"obd: {int(bad.sum())} row(s) show items absent from item_context")
        items = items.sort_values("item_id").reset_index(drop=True)
        catalog = Catalog.from_frame(
            pd.DataFrame(
                {
                    "item_id": items["item_id"].to_numpy(np.int64),
                    "external_id": items["item_id"].astype(str),
                    "title": [f"item {i}" for i in items["item_id"]],
                    "genres": [
                        [f"f{k}:{str(row[f'item_feature_{k}'])[:8]}" for k in (1, 2, 3)]
                        for _, row in items.iterrows()
                    ],
                    "text": [f"feature_0 {v:.3f}" for v in items["item_feature_0"]],
                    "item_feature_0": items["item_feature_0"].to_numpy(float),
                }
            )
        )
        context = log[USER_FEATURES].astype(str).agg("|".join, axis=1)
        vocab, uid = np.unique(context.to_numpy(), return_inverse=True)
        ts = _seconds(log["timestamp"])
        item = log["item_id"].to_numpy(np.int64)
        click = log["click"].to_numpy().astype(bool)
        aff_cols = [f"user-item_affinity_{i}" for i in range(n_items)]
        have = [c for c in aff_cols if c in log.columns]
        affinity = log[have].to_numpy(float) if len(have) == n_items else None
        imp = pd.DataFrame(
            {
                "impression_id": np.arange(len(log), dtype=np.int64),
                "user_id": uid.astype(np.int64),
                "timestamp": ts,
                "items": [[int(i)] for i in item],
                "clicked": [[int(i)] if c else [] for i, c in zip(item, click)],
                "position": log["position"].to_numpy(np.int64),
                "propensity": log["propensity_score"].to_numpy(float),
                "policy": pol,
                "campaign": camp,
            }
        )
        if affinity is not None:
            imp["affinity"] = list(affinity)
        inter = Interactions.from_frame(
            pd.DataFrame({"user_id": uid[click], "item_id": item[click], "timestamp": ts[click]})
        )
        first = pd.Series(np.arange(len(log))).groupby(uid).first().to_numpy()
        users = Users.from_frame(
            pd.DataFrame(
                {
                    "user_id": np.arange(len(vocab), dtype=np.int64),
                    "external_id": vocab,
                    **{c: log[c].astype(str).to_numpy()[first] for c in USER_FEATURES},
                }
            )
        )
        meta = {"path": str(folder), "policy": pol, "campaign": camp, "rows": len(log),
                "clicks": int(click.sum()), "has_titles": False}  # fmt: skip
        return Dataset(
            name=f"obd-{pol}-{camp}",
            catalog=catalog.with_statistics(inter),
            interactions=inter,
            users=users,
            impressions=Impressions.from_frame(imp),
            scale=None,
            meta=meta,
        )
