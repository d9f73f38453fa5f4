import pytest

from alignuser.scenario import Scenario


def small_scenario(tmp_path, **changes) -> Scenario:
    data = {
        "name": "small",
        "seed": 3,
        "dataset": {"source": "synthetic", "synthetic": {"n_users": 80, "n_items": 120, "seed": 1}},
        "population": {"n_agents": 60},
        "memory": {"backend": "inmemory", "top_k": 2, "recent_k": 2},
        "policy": {"name": "choice"},
        "recommenders": [{"name": "popular"}, {"name": "random"}],
        "session": {
            "items_per_page": 4,
            "max_pages": 4,
            "sessions_per_agent": 2,
            "activation_prob": 0.7,
        },
        "output": {"dir": str(tmp_path), "report": False},
    }
    for key, value in changes.items():
        node = data
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return Scenario.model_validate(data)


@pytest.fixture
def make_scenario(tmp_path):
    return lambda **changes: small_scenario(tmp_path, **changes)
