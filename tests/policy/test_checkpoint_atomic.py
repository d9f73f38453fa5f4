"""Checkpoint folders are written all at once: a kill mid-write never leaves half of one."""

from __future__ import annotations

import os

import pytest

from alignuser.policy.checkpoint import atomic_folder, load_policy_model, save_policy_model


def test_a_failed_write_keeps_the_previous_folder(tmp_path):
    folder = tmp_path / "last"
    with atomic_folder(folder) as tmp:
        (tmp / "a.txt").write_text("one")
    assert (folder / "a.txt").read_text() == "one"
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(folder) as tmp:
            (tmp / "a.txt").write_text("half")
            raise KeyboardInterrupt  # killed while writing
    assert (folder / "a.txt").read_text() == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    with atomic_folder(folder) as tmp:
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in folder.iterdir()) == ["b.txt"]  # replaced, not merged


def test_a_swap_cut_between_its_renames_is_recovered(tmp_path):
    from alignuser.policy.model import PolicyModel
    from alignuser.training.config import TinySpec

    pm = PolicyModel.create(
        "tiny", corpus=["PAGE 1 WATCH SKIP NEXT EXIT END 1 2 3 4 5"],
        tiny=TinySpec(n_layers=1, d_model=32, n_heads=2, min_frequency=1),
    )  # fmt: skip
    folder = save_policy_model(pm, tmp_path / "policy")
    assert not list(tmp_path.glob("policy.*"))
    os.replace(folder, tmp_path / "policy.old")  # the state after the first rename
    loaded = load_policy_model(tmp_path / "policy")
    assert (tmp_path / "policy" / "policy.json").is_file()
    assert loaded.info["base"] == "tiny"
