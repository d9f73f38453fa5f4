"""Training's page-state builder and the simulation build the same state for the same past.

The same user, history and page give the same state text and the same cues on both paths:
:class:`~alignuser.state.StepContext` (training, calibration, evaluation) and the
simulation's model (memory retrieval, incremental taste and rater models). Checked on each
agent's first page, where the run has added nothing to the seeded history yet.
"""

import dataclasses

import numpy as np

from alignuser.env.text import render_state, render_state_compact
from alignuser.policy.cues import page_cues
from alignuser.policy.random import RandomPolicy
from alignuser.scenario import Scenario
from alignuser.simulation.runner import prepare, run_one
from alignuser.state import StepContext


class Recording(RandomPolicy):
    def __init__(self):
        super().__init__(watch_prob=0.6, exit_prob=0.2)
        self.states = []

    def decide(self, states, rng):
        self.states.extend(states)
        return super().decide(states, rng)


def test_training_and_simulation_build_the_same_first_page(tmp_path):
    s = Scenario.model_validate(
        {
            "name": "paths",
            "seed": 3,
            "dataset": {"source": "synthetic",
                        "synthetic": {"n_users": 60, "n_items": 100, "seed": 1}},
            "population": {"n_agents": 30, "history_memories": 5},
            "memory": {"backend": "inmemory", "top_k": 2, "recent_k": 3},
            "recommenders": [{"name": "popular"}],
            "session": {"items_per_page": 4, "max_pages": 2},
            "output": {"dir": str(tmp_path), "report": False},
        }
    )  # fmt: skip
    prep = prepare(s)
    pol = Recording()
    run_one(s, prep, s.recommenders[0], pol, tmp_path / "run")
    # the simulation derives personas against the catalog with the training part's
    # statistics; StepContext derives them against its dataset's catalog: give it that one
    data = dataclasses.replace(prep.dataset, catalog=prep.catalog)
    ctx = StepContext(data, prep.train, prep.encoder, n_memories=3, n_similar=2, n_history=5)
    train = prep.train.df.sort_values(["user_id", "timestamp"], kind="stable")
    firsts = [st for st in pol.states if st.session == 0 and st.page == 1]
    assert len(firsts) == 30
    for sim in firsts:
        user = int(prep.agent_users[sim.agent_id])
        mine = train[train["user_id"] == user]
        items = [it.item_id for it in sim.items]
        built = ctx.state(user, 1, items, mine["item_id"].tolist(), mine["rating"].tolist())
        assert render_state(built) == render_state(sim)
        assert render_state_compact(built) == render_state_compact(sim)
        np.testing.assert_allclose(page_cues(built), page_cues(sim), atol=1e-6)
        # (``history`` is filled by the simulation for item-tower policies only)
        assert (built.rater, built.rater_all) == (sim.rater, sim.rater_all)
    assert any(st.memories for st in firsts) and any(it.similar for st in firsts for it in st.items)
