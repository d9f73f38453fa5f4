"""Train / validation / test splits of :class:`~alignuser.data.tables.Interactions`.

* :func:`temporal_split`: one global time cut (the latest rows are the test part).
* :func:`leave_last_n`: the last ``n`` events of each user (by time) are held out.
* :func:`random_split`: a seeded random partition of the rows.
* :func:`provided_split`: a split shipped with the dataset (``ml-100k``'s ``u1``, Agent4Rec's
  ``provided``, the generic loader's ``split_column``...).
* :func:`make_split`: one of the above by name (``"auto"``: the provided split, else temporal
  when there are timestamps, else random), as ``alignuser eval --split`` and scenarios name
  them.

Every function returns a :class:`~alignuser.data.dataset.Split` over the same id space; parts
never share a row, and ``valid`` is ``None`` when no validation part is asked for.

Example:
    >>> import pandas as pd
    >>> from alignuser.data.tables import Interactions
    >>> from alignuser.data.splits import temporal_split
    >>> inter = Interactions.from_frame(pd.DataFrame({
    ...     "user_id": [0, 0, 1, 1, 1], "item_id": [0, 1, 0, 2, 1],
    ...     "timestamp": [1, 2, 3, 4, 5]}))
    >>> temporal_split(inter, test_fraction=0.4).summary()
    {'train': 3, 'valid': 0, 'test': 2}
"""

from __future__ import annotations

import numpy as np

from alignuser.data.dataset import Dataset, Split
from alignuser.data.tables import Interactions
from alignuser.errors import DatasetError


def _check_fractions(test_fraction: float, valid_fraction: float) -> None:
    if not 0 < test_fraction < 1 or not 0 <= valid_fraction < 1:
        raise ValueError("need 0 < test_fraction < 1 and 0 <= valid_fraction < 1")
    if test_fraction + valid_fraction >= 1:
        total = test_fraction + valid_fraction
        raise ValueError(f"test_fraction + valid_fraction = {total} leaves no train data")


def _require_time(inter: Interactions, what: str) -> None:
    if not inter.has_time:
        raise DatasetError(
            f"{what} needs timestamps, but these interactions have none (timestamp -1); "
            "use random_split or the dataset's provided split"
        )


def _from_labels(inter: Interactions, part: np.ndarray, name: str) -> Split:
    """Part labels 0 = train, 1 = valid, 2 = test -> :class:`Split` (row order kept)."""
    valid = inter.subset(part == 1) if (part == 1).any() else None
    return Split(inter.subset(part == 0), valid, inter.subset(part == 2), name=name)


def temporal_split(
    inter: Interactions, test_fraction: float = 0.2, valid_fraction: float = 0.0
) -> Split:
    """Cut the timeline once: the latest ``test_fraction`` rows are the test part.

    The ``valid_fraction`` rows just before them are the validation part. No test row is
    earlier than any train row (ties at the cut may share a timestamp).

    Raises:
        DatasetError: When the interactions have no timestamps.
    """
    _check_fractions(test_fraction, valid_fraction)
    _require_time(inter, "temporal_split")
    n = len(inter)
    order = np.argsort(inter.df["timestamp"].to_numpy(), kind="stable")
    n_test = max(1, round(n * test_fraction))
    n_valid = round(n * valid_fraction)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    part = np.zeros(n, dtype=np.int8)
    part[rank >= n - n_test - n_valid] = 1
    part[rank >= n - n_test] = 2
    return _from_labels(inter, part, "temporal")


def leave_last_n(
    inter: Interactions, n_test: int = 1, n_valid: int = 0, by_row_order: bool = False
) -> Split:
    """Hold out each user's last ``n_test`` events (test) and the ``n_valid`` before (valid).

    Every user keeps at least one training event: a user with ``k`` events gives at most
    ``k - 1`` to the held-out parts (test first).

    Args:
        inter: The interactions.
        n_test: Events per user in the test part.
        n_valid: Events per user in the validation part.
        by_row_order: Use the row order instead of timestamps (for data without time).

    Raises:
        DatasetError: When there are no timestamps and ``by_row_order`` is false.
    """
    if n_test < 1 or n_valid < 0:
        raise ValueError("need n_test >= 1 and n_valid >= 0")
    if not by_row_order:
        _require_time(inter, "leave_last_n")
    df = inter.df
    n = len(df)
    keys = [np.arange(n)] if by_row_order else [np.arange(n), df["timestamp"].to_numpy()]
    order = np.lexsort([*keys, df["user_id"].to_numpy()])
    users = df["user_id"].to_numpy()[order]
    starts = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
    sizes = np.diff(np.r_[starts, n])
    # position counted from the end of each user's sequence: 0 = last event
    from_end = np.repeat(starts + sizes, sizes) - 1 - np.arange(n)
    held = np.repeat(np.minimum(sizes - 1, n_test + n_valid), sizes)
    test = np.repeat(np.minimum(sizes - 1, n_test), sizes)
    part_sorted = np.where(from_end < test, 2, np.where(from_end < held, 1, 0)).astype(np.int8)
    part = np.empty(n, dtype=np.int8)
    part[order] = part_sorted
    return _from_labels(inter, part, f"leave_last_{n_test}")


def random_split(
    inter: Interactions, test_fraction: float = 0.2, valid_fraction: float = 0.0, seed: int = 0
) -> Split:
    """A seeded random partition of the rows (same seed, same split)."""
    _check_fractions(test_fraction, valid_fraction)
    n = len(inter)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * test_fraction))
    n_valid = round(n * valid_fraction)
    part = np.zeros(n, dtype=np.int8)
    part[perm[:n_test]] = 2
    part[perm[n_test : n_test + n_valid]] = 1
    return _from_labels(inter, part, f"random_{seed}")


def provided_split(dataset: Dataset, name: str = "provided") -> Split:
    """The split named ``name`` that ships with ``dataset``.

    Raises:
        DatasetError: When the dataset has no such split (the message lists those it has).
    """
    if name not in dataset.splits:
        have = ", ".join(sorted(dataset.splits)) or "none"
        raise DatasetError(f"dataset {dataset.name!r} has no split {name!r}; available: {have}")
    return dataset.splits[name]


SPLIT_METHODS = ("auto", "provided", "temporal", "random", "leave_last_n", "column", "none")
"""Names :func:`make_split` takes (``leave-last-n`` is accepted for ``leave_last_n``)."""


def make_split(
    dataset: Dataset,
    method: str = "auto",
    test_fraction: float = 0.2,
    valid_fraction: float = 0.0,
    n_test: int = 1,
    seed: int = 0,
    name: str | None = None,
) -> Split:
    """The split of ``dataset`` named by ``method``.

    Args:
        dataset: The dataset (its ``interactions`` and shipped ``splits``).
        method: ``"auto"`` (the provided split when the dataset ships one, else
            ``temporal`` when it has timestamps, else ``random``), ``"provided"`` (``name``,
            default ``"provided"`` or the only / first shipped split), ``"temporal"``,
            ``"random"``, ``"leave_last_n"`` (``n_test`` per user), ``"column"`` (the split
            the generic loader built from ``split_column=name``) or ``"none"`` (an error:
            protocols need a held-out part).
        test_fraction: Test share (``temporal``, ``random``).
        valid_fraction: Validation share (``temporal``, ``random``).
        n_test: Held-out events per user (``leave_last_n``).
        seed: Seed of ``random``.
        name: Split name for ``provided``, column name for ``column``.

    Raises:
        DatasetError: One line saying what is missing and which method to give instead.
    """
    method = method.replace("-", "_")
    shipped = sorted(dataset.splits)
    if method == "auto":
        if shipped:
            method = "provided"
        else:
            method = "temporal" if dataset.interactions.has_time else "random"
    if method == "none":
        raise DatasetError(
            "split method 'none' has no held-out part; give a split with a test part "
            "(--split temporal, random, leave-last-n, provided or column:COL)"
        )
    if method == "provided":
        if name is None:
            name = "provided" if "provided" in dataset.splits else (shipped or [None])[0]
        if name is None:
            raise DatasetError(
                f"dataset {dataset.name!r} ships no split; give one of temporal, random, "
                "leave_last_n, or column (the generic loader's split_column option)"
            )
        split = provided_split(dataset, name)
    elif method == "column":
        columns = [k for k in shipped if k.startswith("column:")]
        key = f"column:{name}" if name else (columns or [""])[0]
        if key not in dataset.splits:
            raise DatasetError(
                f"dataset {dataset.name!r} has no split by column {name!r}: load it with the "
                f"generic loader's option split_column={name or 'COLUMN'} (values train / "
                "valid / test)"
            )
        split = dataset.splits[key]
    elif method in ("temporal", "leave_last_n") and not dataset.interactions.has_time:
        raise DatasetError(
            f"split {method!r} needs timestamps, but dataset {dataset.name!r} has none; give "
            "split random (--split random), provided or column"
        )
    elif method == "temporal":
        split = temporal_split(dataset.interactions, test_fraction, valid_fraction)
    elif method == "leave_last_n":
        split = leave_last_n(dataset.interactions, n_test=n_test)
    elif method == "random":
        split = random_split(dataset.interactions, test_fraction, valid_fraction, seed=seed)
    else:
        raise DatasetError(f"unknown split method {method!r}; use one of {SPLIT_METHODS}")
    if not len(split.test):
        raise DatasetError(
            f"split {split.name!r} of dataset {dataset.name!r} has an empty test part; give "
            "another split (e.g. temporal or random with test_fraction 0.2)"
        )
    return split


def impression_time_split(dataset, test_fraction: float = 0.3):
    """``(train_dataset, test_dataset, train_interactions, cut)`` split at a timestamp.

    The impressions (pages) before the ``1 - test_fraction`` quantile of their timestamps
    train, the later ones test; interactions before the cut train. The next-action, replay
    and fidelity protocols and ``alignuser train`` under a temporal split cut this way.
    """
    import dataclasses

    from alignuser.data.tables import Impressions

    if dataset.impressions is None or not len(dataset.impressions):
        raise ValueError(f"dataset {dataset.name!r} has no impressions")
    imp = dataset.impressions.df
    cut = int(np.quantile(imp["timestamp"].to_numpy(), 1.0 - test_fraction))
    inter = dataset.interactions.df
    train_inter = Interactions(inter[inter["timestamp"] < cut].reset_index(drop=True))
    tr = Impressions(imp[imp["timestamp"] < cut].reset_index(drop=True))
    te = Impressions(imp[imp["timestamp"] >= cut].reset_index(drop=True))
    return (
        dataclasses.replace(dataset, impressions=tr),
        dataclasses.replace(dataset, impressions=te),
        train_inter,
        cut,
    )
