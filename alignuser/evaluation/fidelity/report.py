"""Comparison of human and simulated samples: distances with bootstrap intervals, plots.

Per statistic, :func:`compare` gives the Wasserstein distance (the mean absolute shift of
mass, in the statistic's unit), the two-sample Kolmogorov-Smirnov statistic and p-value
(:mod:`scipy.stats`), and a percentile bootstrap interval of the Wasserstein distance.

**Bootstrap.** Values of one user are not independent (a user's sessions, pages and ratings
share a taste), so the bootstrap resamples *users* with replacement, separately on the human
and the simulated side, and keeps all values of each drawn user (a user drawn twice counts
twice). Without a ``user_id`` column the unit is the ``session``, without either the single
value. The interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the
resampled distances (default 95 %, 200 resamples, seeded per statistic). A distance cannot
be negative, so its bootstrap is biased upward near 0: two samples from the same
distribution get an interval slightly above 0 that narrows as the number of users grows,
rather than one that contains 0. Compare intervals of policies with each other, and read a
lower end well above the interval of a replay of the humans as a real difference.

Example:
    >>> import pandas as pd
    >>> h = pd.DataFrame({"statistic": "rating", "value": [1.0, 2.0, 3.0]})
    >>> s = pd.DataFrame({"statistic": "rating", "value": [2.0, 3.0, 4.0]})
    >>> row = compare(h, s).iloc[0]
    >>> float(row["wasserstein"]), bool(row["wasserstein_lo"] <= 1.0 <= row["wasserstein_hi"])
    (1.0, True)
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.evaluation.fidelity.heldout import STATISTICS
from alignuser.evaluation.fidelity.simulation import FidelitySamples

__all__ = ["N_BOOT", "compare", "fidelity_plots", "fidelity_table"]

N_BOOT = 200
_COLS = (
    "statistic wasserstein wasserstein_lo wasserstein_hi ks ks_pvalue n_human n_sim "
    "human_mean sim_mean status"
).split()


def _units(frame: pd.DataFrame) -> pd.DataFrame:
    """``unit, value, weight`` rows: one per resampling unit and distinct value.

    The unit is the user, else the session, else the row. Equal values of one unit are
    merged (``weight`` counts them), which leaves every weighted distance unchanged.
    """
    for col in ("user_id", "session"):
        if col in frame.columns and len(frame) and frame[col].notna().all():
            unit = pd.factorize(frame[col], sort=True)[0]
            break
    else:
        unit = np.arange(len(frame))
    df = pd.DataFrame({"unit": unit, "value": frame["value"].to_numpy(float)})
    return df.groupby(["unit", "value"], sort=True).size().rename("weight").reset_index()


def _bootstrap(human: pd.DataFrame, sim: pd.DataFrame, n_boot: int, rng, level: float):
    """Percentile interval of the Wasserstein distance, resampling units on both sides."""
    from scipy.stats import wasserstein_distance

    h, s = _units(human), _units(sim)
    hu, su = h["unit"].to_numpy(), s["unit"].to_numpy()
    nh, ns = int(hu.max()) + 1, int(su.max()) + 1
    hv, sv = h["value"].to_numpy(), s["value"].to_numpy()
    hw, sw = h["weight"].to_numpy(float), s["weight"].to_numpy(float)
    dist = np.empty(n_boot)
    for b in range(n_boot):
        ch = np.bincount(rng.integers(0, nh, nh), minlength=nh)[hu]
        cs = np.bincount(rng.integers(0, ns, ns), minlength=ns)[su]
        dist[b] = wasserstein_distance(hv, sv, hw * ch, sw * cs)
    tail = 50 * (1 - level)
    lo, hi = np.percentile(dist, [tail, 100 - tail])
    return float(lo), float(hi)


def compare(human: pd.DataFrame, sim: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0,
            level: float = 0.95) -> pd.DataFrame:  # fmt: skip
    """Wasserstein and KS distances per statistic between two long sample frames.

    Args:
        human: Long samples (``statistic``, ``value`` and, for the bootstrap units,
            ``user_id`` or ``session``).
        sim: The same for the simulation.
        n_boot: Bootstrap resamples of the Wasserstein interval (``0``: no interval, NaN).
        seed: Bootstrap seed (each statistic draws from ``(seed, statistic)``).
        level: Coverage of the percentile interval.

    Returns:
        One row per statistic present on either side: ``statistic, wasserstein,
        wasserstein_lo, wasserstein_hi, ks, ks_pvalue, n_human, n_sim, human_mean,
        sim_mean, status``.
    """
    from scipy.stats import ks_2samp, wasserstein_distance

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), not {level}")
    rows = []
    for stat in [s for s in STATISTICS if s in set(human["statistic"]) | set(sim["statistic"])]:
        hf, sf = human[human["statistic"] == stat], sim[sim["statistic"] == stat]
        h, s = hf["value"].to_numpy(float), sf["value"].to_numpy(float)
        row = {
            "statistic": stat,
            "n_human": len(h),
            "n_sim": len(s),
            "human_mean": float(h.mean()) if len(h) else np.nan,
            "sim_mean": float(s.mean()) if len(s) else np.nan,
            "wasserstein_lo": np.nan,
            "wasserstein_hi": np.nan,
        }
        if len(h) and len(s):
            ks = ks_2samp(h, s)
            row.update(
                wasserstein=float(wasserstein_distance(h, s)),
                ks=float(ks.statistic),
                ks_pvalue=float(ks.pvalue),
                status="ok",
            )
            if n_boot > 0:
                rng = np.random.default_rng([seed, zlib.crc32(stat.encode())])
                lo, hi = _bootstrap(hf, sf, n_boot, rng, level)
                row.update(wasserstein_lo=lo, wasserstein_hi=hi)
        else:
            row.update(
                wasserstein=np.nan,
                ks=np.nan,
                ks_pvalue=np.nan,
                status="no samples: " + ("human" if not len(h) else "simulated"),
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=_COLS)


def fidelity_table(fs: FidelitySamples, n_boot: int = N_BOOT, seed: int = 0,
                   level: float = 0.95) -> pd.DataFrame:  # fmt: skip
    """One row per policy x statistic (unavailable statistics: NaN and the reason).

    Columns: ``policy`` and those of :func:`compare` (``n_boot``, ``seed`` and ``level`` go
    to it; every policy is compared with the same human resamples).
    """
    df = fs.samples
    human = df[df["source"] == "human"]
    parts = []
    for name in fs.policies:
        t = compare(human, df[df["source"] == name], n_boot, seed, level).set_index("statistic")
        t = t.reindex(list(STATISTICS))
        for stat, why in fs.unavailable.items():
            t.loc[stat] = np.nan
            t.loc[stat, "status"] = f"not available: {why}"
        t["status"] = t["status"].fillna("no samples")
        parts.append(t.reset_index().assign(policy=name))
    if not parts:
        return pd.DataFrame(columns=["policy", *_COLS])
    out = pd.concat(parts, ignore_index=True)
    for c in ("n_human", "n_sim"):
        out[c] = out[c].astype("Int64")
    return out[["policy", *[c for c in out.columns if c != "policy"]]]


def fidelity_plots(samples, out_dir: str | Path, prefix: str = "") -> list[Path]:
    """One PNG per statistic: human vs each policy's distribution (density histograms).

    Args:
        samples: A :class:`FidelitySamples` or its long ``samples`` frame.
        out_dir: Folder (created).
        prefix: File name prefix (e.g. the dataset name): ``<prefix><statistic>.png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = samples.samples if isinstance(samples, FidelitySamples) else samples
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for stat in [s for s in STATISTICS if s in set(df["statistic"])]:
        d = df[df["statistic"] == stat]
        if not (d["source"] == "human").any():
            continue
        v = d["value"].to_numpy(float)
        hi = max(np.percentile(v, 99), v.min() + 1)
        bins = np.arange(np.floor(v.min()) - 0.5, np.ceil(hi) + 1.5, max(1.0, (hi - v.min()) // 40))
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for src, g in d.groupby("source", sort=False):
            human = src == "human"
            ax.hist(
                np.clip(g["value"], None, bins[-1] - 0.5),
                bins=bins,
                density=True,
                histtype="step",
                lw=2.5 if human else 1.3,
                color="black" if human else None,
                label=f"{src} (n={len(g)})",
            )
        ax.set(xlabel=stat.replace("_", " "), ylabel="share", title=f"{prefix}{stat}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{prefix}{stat}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
