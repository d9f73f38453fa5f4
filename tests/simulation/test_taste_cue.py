"""The simulation shows the same taste and rater cues that training computes from the same history."""

import numpy as np
import pytest

from alignuser.policy.random import RandomPolicy
from alignuser.simulation.outputs import read_events
from alignuser.simulation.runner import prepare, run_one


class Recording(RandomPolicy):
    def __init__(self):
        super().__init__(watch_prob=0.6, exit_prob=0.2)
        self.states = []

    def decide(self, states, rng):
        self.states.extend(states)
        return super().decide(states, rng)


@pytest.mark.parametrize("backend", ["inmemory", "chroma"])
def test_run_time_taste_equals_history_taste(make_scenario, tmp_path, backend):
    s = make_scenario(
        recommenders=[{"name": "popular"}],
        **{"memory.backend": backend, "population.history_memories": 5},
    )
    prep = prepare(s)
    pol = Recording()
    run_one(s, prep, s.recommenders[0], pol, tmp_path / "run")
    ev = read_events(tmp_path / "run")
    taste = prep.view.taste_model(prep.scale.max)
    offsets = prep.view.rater_offsets()
    train = prep.train.df.dropna(subset=["rating"])
    assert taste.enabled and pol.states
    first_step = ev.groupby(["agent_id", "session", "page"])["step"].first()
    watched = ev[ev["watched"]]
    checked = nonzero = longer = 0
    for st in pol.states[:: max(1, len(pol.states) // 60)]:
        step = first_step[(st.agent_id, st.session, st.page)]
        hist = [(r.item_id, r.rating) for r in prep.history[st.agent_id]]
        w = watched[(watched["agent_id"] == st.agent_id) & (watched["step"] < step)]
        hist += list(zip(w["item_id"], w["rating"]))
        items = [it.item_id for it in st.items]
        want = taste.for_history([h[0] for h in hist], [h[1] for h in hist], items)
        assert [it.taste for it in st.items] == want
        hi, hr = [h[0] for h in hist], [h[1] for h in hist]
        assert st.rater == taste.bias_for_history(hi, hr)
        # the long-run offset: every training rating of the agent's user, then the run's
        mine = train[train["user_id"] == prep.agent_users[st.agent_id]]
        all_i = mine["item_id"].tolist() + w["item_id"].tolist()
        all_r = mine["rating"].tolist() + w["rating"].tolist()
        assert st.rater_all == pytest.approx(offsets.for_history(all_i, all_r), abs=0.006)
        longer += len(mine) > len(prep.history[st.agent_id])
        checked += 1
        nonzero += any(v for v in want)
    assert checked >= 30 and nonzero >= 10 and longer >= 5  # the prior reaches past memory
    assert any(st.rater not in (None, 0.0) for st in pol.states)
    assert np.isfinite([it.taste for st in pol.states for it in st.items]).all()
