"""Write a small dataset in the generic CSV format, as your own logs would look.

``ratings.csv`` has one row per interaction with columns named as an export would name them
(``uid``, ``movie``, ``stars``, ``ts``: Unix seconds) and ``items.csv`` the items (``movie``,
``title``, ``genres`` separated by ``|``). The rows come from the embedded synthetic world
(seeded), so the README's "Evaluate on your data" walk-through runs without a download.

Usage:
    python examples/own_data.py data/own [--users 120] [--items 150] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def write_own_data(out: str | Path, n_users: int = 120, n_items: int = 150, seed: int = 0):
    """Write ``ratings.csv`` and ``items.csv`` under ``out``; returns their paths."""
    from alignuser.data.synthetic import SyntheticWorld

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = SyntheticWorld(n_users=n_users, n_items=n_items, seed=seed).dataset(
        n_sessions_per_user=3, seed=seed
    )
    df, cat = ds.interactions.df, ds.catalog.df
    ratings = pd.DataFrame(
        {
            "uid": "u" + df["user_id"].astype(str),
            "movie": "m" + df["item_id"].astype(str),
            "stars": df["rating"].astype(int),
            "ts": df["timestamp"],
        }
    )
    items = pd.DataFrame(
        {
            "movie": "m" + cat["item_id"].astype(str),
            "title": cat["title"],
            "genres": cat["genres"].map("|".join),
        }
    )
    ratings.to_csv(out / "ratings.csv", index=False)
    items.to_csv(out / "items.csv", index=False)
    return out / "ratings.csv", out / "items.csv"


def main(argv=None) -> None:
    """Command line: ``python examples/own_data.py OUT``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--users", type=int, default=120)
    ap.add_argument("--items", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    r, i = write_own_data(a.out, a.users, a.items, a.seed)
    print(f"wrote {r} ({sum(1 for _ in open(r)) - 1} rows) and {i}")


if __name__ == "__main__":
    main()
