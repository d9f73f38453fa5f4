"""Faults in a step: retried with backoff, then agent by agent, then a recorded fallback."""

import json

import pandas as pd
import pytest

import alignuser.recommenders.registry as rec_registry
import alignuser.simulation.runner as runner_mod
from alignuser.simulation.outputs import read_events, read_sessions
from alignuser.simulation.runner import run

from .conftest import small_scenario

FAST = {"resilience": {"retries": 2, "backoff": 0.0}, "recommenders": [{"name": "popular"}]}


class Flaky:
    """Wraps a policy: the first ``fail`` decide calls draw from the generator, then raise;
    calls with a state of agent ``bad_agent`` always raise."""

    def __init__(self, inner, fail=0, bad_agent=None):
        self.inner, self.fail, self.bad_agent, self.calls = inner, fail, bad_agent, 0

    def decide(self, states, rng):
        self.calls += 1
        if self.calls <= self.fail:
            rng.random(7)  # consumed before failing: the retry must rewind the generator
            raise ConnectionError("policy server hiccup")
        if any(s.agent_id == self.bad_agent for s in states):
            raise RuntimeError(f"agent {self.bad_agent} breaks the policy")
        return self.inner.decide(states, rng)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _with_policy(monkeypatch, **kw):
    real = runner_mod.make_policy
    made = []

    def fake(scenario, prep=None):
        made.append(Flaky(real(scenario, prep), **kw))
        return made[-1]

    monkeypatch.setattr(runner_mod, "make_policy", fake)
    return made


def test_flaky_policy_is_retried_and_changes_nothing(tmp_path, monkeypatch):
    ref = run(small_scenario(tmp_path, **FAST), tmp_path / "ref")
    made = _with_policy(monkeypatch, fail=2)
    out = run(small_scenario(tmp_path, **FAST), tmp_path / "flaky")
    assert made[0].calls > 2
    pd.testing.assert_frame_equal(read_events(ref), read_events(out))
    pd.testing.assert_frame_equal(read_sessions(ref), read_sessions(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recommenders"]["popular"]["faults"] == 0
    assert not (out / "faults").exists()


def test_too_flaky_policy_goes_agent_by_agent(tmp_path, monkeypatch):
    """Three failures exhaust the batch's retries; agent by agent then succeeds."""
    _with_policy(monkeypatch, fail=3)
    out = run(small_scenario(tmp_path, **FAST), tmp_path / "flaky")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recommenders"]["popular"]["faults"] == 0
    assert (read_sessions(out).groupby("agent_id").size() == 2).all()


def test_agent_that_always_fails_gets_fallback_and_faults(tmp_path, monkeypatch):
    _with_policy(monkeypatch, bad_agent=5)
    out = run(small_scenario(tmp_path, **FAST), tmp_path / "bad")
    ev, se = read_events(out), read_sessions(out)
    bad = ev[ev.agent_id == 5]
    # every page of agent 5 was the fallback: nothing watched, exit after the first page
    assert len(bad) and not bad["watched"].any() and bad["exit"].all()
    assert (se[se.agent_id == 5]["pages"] == 1).all() and len(se[se.agent_id == 5]) == 2
    # the others ran normally: all sessions finished, and they watched things
    assert (se.groupby("agent_id").size() == 2).all()
    assert ev[ev.agent_id != 5]["watched"].mean() > 0.05
    entry = json.loads((out / "manifest.json").read_text())["recommenders"]["popular"]
    assert entry["faults"] == 2  # one fault per session of agent 5
    assert {f["agent_id"] for f in entry["fault_list"]} == {5}
    faults = pd.read_parquet(out / "faults" / "popular.parquet")
    assert set(faults["stage"]) == {"policy"} and list(faults["agent_id"]) == [5, 5]
    assert sorted(faults["step"]) == sorted(se[se.agent_id == 5]["start_step"])


class FlakyRec:
    """A recommender whose batched call fails every other step and which never serves ``bad``."""

    def __init__(self, inner, bad_user):
        self.inner, self.bad_user, self.calls = inner, bad_user, 0

    def recommend(self, users, k, exclude=None):
        self.calls += 1
        if len(users) > 1 and self.calls % 2:
            raise TimeoutError("recommender timed out")
        if self.bad_user in set(int(u) for u in users):
            raise ConnectionError("no page for this user")
        return self.inner.recommend(users, k, exclude)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_flaky_recommender_user_by_user(tmp_path, monkeypatch):
    s = small_scenario(tmp_path, **{**FAST, "resilience": {"retries": 0, "backoff": 0.0}})
    ref = run(s, tmp_path / "ref")
    bad_user = int(read_sessions(ref).query("agent_id == 7")["user_id"].iloc[0])
    real = rec_registry.make_recommender
    monkeypatch.setattr(
        rec_registry, "make_recommender", lambda *a, **k: FlakyRec(real(*a, **k), bad_user)
    )
    out = run(s, tmp_path / "flaky")
    ev, se = read_events(out), read_sessions(out)
    assert not (ev.user_id == bad_user).any()  # never got a page
    mine = se[se.user_id == bad_user]
    assert len(mine) == 2 and (mine["pages"] == 0).all() and mine["exited"].all()
    faults = pd.read_parquet(out / "faults" / "popular.parquet")
    assert set(faults["stage"]) == {"recommend"} and set(faults["user_id"]) == {bad_user}
    # everyone else saw the same pages as without faults (the recommender is stateless)
    cols = ["agent_id", "session", "page", "position", "item_id"]
    a = ev[cols].query("page == 1 and session == 0").reset_index(drop=True)
    r = read_events(ref)[cols].query("page == 1 and session == 0 and agent_id != 7")
    pd.testing.assert_frame_equal(a, r.reset_index(drop=True))


def test_backoff_is_exponential(monkeypatch):
    from alignuser.simulation import faults

    waits = []
    monkeypatch.setattr(faults.time, "sleep", waits.append)
    m = faults.FaultGuard("x", rng=None, retries=3, backoff=0.1, backoff_max=0.3)
    calls = []

    def boom():
        calls.append(1)
        raise ValueError("no")

    with pytest.raises(ValueError):
        m.retry(boom, "decide")
    assert len(calls) == 4 and waits == pytest.approx([0.1, 0.2, 0.3])


def test_dead_policy_trips_the_breaker(tmp_path, monkeypatch):
    """A policy that always fails: every session ends with a fault, and per step the policy is
    asked at most (retries + 1) + breaker times, not once per agent."""
    made = _with_policy(monkeypatch, fail=10**9)
    s = small_scenario(tmp_path, **{**FAST, "session.sessions_per_agent": 1})
    out = run(s, tmp_path / "dead")
    entry = json.loads((out / "manifest.json").read_text())["recommenders"]["popular"]
    se = read_sessions(out)
    assert entry["faults"] == 60 and len(se) == 60 and (se["watches"] == 0).all()
    per_step = read_events(out).groupby("step")["agent_id"].nunique()
    assert made[0].calls <= len(per_step) * (3 + 8)
    faults = pd.read_parquet(out / "faults" / "popular.parquet")
    skipped = faults["error"].str.contains("not tried after 8 failures").sum()
    assert skipped == (per_step - 8).clip(lower=0).sum() > 0
