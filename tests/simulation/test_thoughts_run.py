"""A run with a policy that writes rationales keeps one row per explained page."""

from __future__ import annotations

import numpy as np

from alignuser.simulation.outputs import read_events, read_thoughts
from alignuser.simulation.runner import run

from .conftest import small_scenario


def test_run_writes_one_thought_per_page(tmp_path):
    from alignuser.env.text import render_state_compact
    from alignuser.policy.checkpoint import save_policy_model
    from alignuser.policy.model import PolicyModel
    from alignuser.testing.policies import random_page_states
    from alignuser.training.config import TinySpec

    states = random_page_states(np.random.default_rng(0), 30)
    pm = PolicyModel.create(
        "tiny",
        corpus=[render_state_compact(s) for s in states] + ["REFLECTION: ACTION:"],
        tiny=TinySpec(n_layers=1, d_model=32, n_heads=2, ffn_mult=2, min_frequency=1),
    )
    save_policy_model(pm, tmp_path / "ck")
    scen = small_scenario(
        tmp_path / "out",
        **{
            "population.n_agents": 6,
            "recommenders": [{"name": "popular"}],
            "session.sessions_per_agent": 1,
            "policy": {
                "name": "alignuser",
                "checkpoint": str(tmp_path / "ck"),
                "params": {"thoughts": True, "thought_tokens": 8},
            },
        },
    )
    out = run(scen)
    events, thoughts = read_events(out), read_thoughts(out)
    pages = events.drop_duplicates(["agent_id", "session", "page"])
    assert len(thoughts) == len(pages) > 0
    assert set(thoughts.columns) >= {"agent_id", "page", "thought", "recommender"}
    plain = run(small_scenario(tmp_path / "plain", **{"population.n_agents": 4}))
    assert read_thoughts(plain).empty
