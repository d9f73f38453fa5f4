"""Which AlignUSER checkpoint a protocol runs on which dataset (``--alignuser-checkpoint``).

A learned policy is only meaningful on the data it was trained on, so
:func:`~alignuser.evaluation.fidelity.run_fidelity` (and the likeness and judge-agreement
protocols) take one checkpoint per dataset (``{dataset: folder}``); a dataset without one
gets an ``alignuser`` row "not run" with the reason. A single folder still applies to every
dataset. :func:`checkpoint_variants` reads several folders joined by ``+`` (one row each).

Example:
    >>> parse_checkpoints("ebnerd=ckpt/eb,ml-latest-small=ckpt/ml")
    {'ebnerd': 'ckpt/eb', 'ml-latest-small': 'ckpt/ml'}
    >>> checkpoint_for({"ebnerd": "ckpt/eb"}, ["ebnerd", "ebnerd-sample"])
    ('ckpt/eb', '')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["NO_CHECKPOINT", "checkpoint_for", "checkpoint_variants", "parse_checkpoints"]

NO_CHECKPOINT = "no --alignuser-checkpoint"


def parse_checkpoints(text: str | None) -> str | dict[str, str] | None:
    """Read a ``--alignuser-checkpoint`` value: one folder, or ``NAME=DIR,NAME=DIR``.

    An existing folder is taken as it is (even with ``=`` or ``,`` in its path); otherwise a
    value with ``=`` is a comma-separated list of ``dataset=folder`` pairs.

    Raises:
        ValueError: For a pair without a name or a folder, or a name given twice.
    """
    if not text:
        return None
    if Path(text).is_dir() or "=" not in text:
        return text
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, folder = (x.strip() for x in part.partition("="))
        if not (eq and name and folder):
            raise ValueError(f"--alignuser-checkpoint {text!r}: {part!r} is not NAME=DIR")
        if name in out:
            raise ValueError(f"--alignuser-checkpoint {text!r}: {name!r} given twice")
        out[name] = folder
    return out


def checkpoint_for(
    checkpoint: str | Path | Mapping[str, str | Path] | None, names: Sequence[str]
) -> tuple[str | None, str]:
    """The AlignUSER checkpoint of one dataset and, when there is none, why.

    Args:
        checkpoint: One checkpoint for every dataset, ``{dataset: checkpoint}``, or ``None``.
        names: The names the dataset goes by (its ``name``, its folder name); the first one
            found in a mapping wins.

    Returns:
        ``(checkpoint or None, reason it is missing or "")``.

    Example:
        >>> checkpoint_for({"ebnerd": "ckpt/eb"}, ["ml-latest-small"])[1]
        'no checkpoint for this dataset (checkpoints given for: ebnerd)'
    """
    if not isinstance(checkpoint, Mapping):
        return (str(checkpoint), "") if checkpoint else (None, NO_CHECKPOINT)
    for name in names:
        if checkpoint.get(name):
            return str(checkpoint[name]), ""
    given = ", ".join(sorted(map(str, checkpoint))) or "none"
    return None, f"no checkpoint for this dataset (checkpoints given for: {given})"


def checkpoint_variants(checkpoint, names) -> tuple[dict[str, str], str]:
    """``{row label: folder}`` of one dataset (folders joined by ``+``) and why none."""
    ckpt, why = checkpoint_for(checkpoint, names)
    if not ckpt:
        return {}, why
    dirs = [d for d in str(ckpt).split("+") if d]
    if len(dirs) == 1:
        return {"alignuser": dirs[0]}, ""
    labels = [Path(d).parent.name if Path(d).name == "policy" else Path(d).name for d in dirs]
    if len(set(labels)) < len(labels):
        labels = [f"#{k}" for k in range(len(dirs))]
    return {f"alignuser:{lab}": d for lab, d in zip(labels, dirs)}, ""
