"""The progress callback counts what will run: sessions per recommender, and the phases."""

from alignuser.simulation.runner import run

from .conftest import small_scenario


def test_progress_totals_are_the_sessions_that_run(tmp_path):
    calls = []
    s = small_scenario(tmp_path, **{"population.n_agents": 20, "engine": {"shards": 2}})
    run(s, tmp_path / "run", progress=lambda *a: calls.append(a))
    labels = list(dict.fromkeys(c[0] for c in calls))
    assert labels == ["prepare", "fit popular", "popular", "fit random", "random", "report"]
    for label in ("popular", "random"):
        seen = [(d, t) for lab, d, t in calls if lab == label]
        assert {t for _, t in seen} == {20 * 2}  # agents x sessions_per_agent, all shards
        done = [d for d, _ in seen]
        assert done == sorted(done) and done[-1] == 40
    for phase in ("prepare", "report"):
        assert [(d, t) for lab, d, t in calls if lab == phase] == [(0, 1), (1, 1)]
