"""A policy with an item tower gets each agent's remembered items in its states."""

from __future__ import annotations

import numpy as np

from alignuser.simulation import runner


class _Recorder:
    """The choice policy, asking for 3 history items and keeping every state it sees."""

    history_length = 3

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def decide(self, states, rng):
        self.seen.extend(states)
        return self.inner.decide(states, rng)


def test_states_carry_the_seeded_and_the_simulated_history(make_scenario, tmp_path, monkeypatch):
    made = []
    real = runner.make_policy

    def fake(scenario, prep=None):
        made.append(_Recorder(real(scenario, prep)))
        return made[-1]

    monkeypatch.setattr(runner, "make_policy", fake)
    s = make_scenario(**{"population.history_memories": 5, "recommenders": [{"name": "popular"}]})
    run_dir = runner.run(s, tmp_path / "r")
    seen = made[-1].seen
    assert seen and all(len(st.history) <= 3 for st in seen)
    assert all(len(st.history) == len(st.history_ratings) for st in seen)
    from alignuser.simulation.outputs import read_events

    ev = read_events(run_dir)
    prep = runner.prepare(s)
    train = prep.train.df.sort_values(["user_id", "timestamp"], kind="stable")
    first = {}
    for st in seen:  # each agent's first state: its 3 most recent training items, in order
        first.setdefault(st.agent_id, st)
    agent_user = dict(zip(ev["agent_id"], ev["user_id"]))
    checked = 0
    for agent, st in first.items():
        g = train[train["user_id"] == agent_user[agent]]
        assert st.history == tuple(int(i) for i in g["item_id"].tail(3))
        np.testing.assert_allclose(st.history_ratings, g["rating"].tail(3).to_numpy())
        checked += 1
    assert checked > 10
    # after a watch, the watched item is the newest remembered one on the next page
    w = ev[ev["watched"]].sort_values(["agent_id", "session", "page", "position"])
    later = {}
    for st in seen:
        later.setdefault(st.agent_id, []).append(st)
    grown = 0
    for (agent, session, page), g in w.groupby(["agent_id", "session", "page"]):
        nxt = [x for x in later[agent] if x.session == session and x.page == page + 1]
        if nxt:
            assert nxt[0].history[-1] in set(g["item_id"].astype(int))
            grown += 1
    assert grown > 5
