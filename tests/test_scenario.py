from pathlib import Path

import pytest

from alignuser.errors import ScenarioError
from alignuser.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_shipped_scenarios_validate():
    files = sorted((ROOT / "scenarios").glob("*.yaml"))
    assert files
    for f in files:
        assert isinstance(load_scenario(f), Scenario)


def test_unknown_key_names_file_and_key(tmp_path):
    p = write(tmp_path, "session:\n  max_pags: 3\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    assert (
        str(p) in str(e.value)
        and "session.max_pags" in str(e.value)
        and "unknown key" in str(e.value)
    )


def test_wrong_type_names_key_and_expected_type(tmp_path):
    p = write(tmp_path, "session:\n  items_per_page: four\n")
    with pytest.raises(
        ScenarioError, match=r"session\.items_per_page: Input should be a valid integer"
    ):
        load_scenario(p)


def test_nested_list_errors_name_the_index(tmp_path):
    p = write(tmp_path, "recommenders:\n  - {name: ease}\n  - {nme: bpr}\n")
    with pytest.raises(ScenarioError, match=r"recommenders\.1\.nme: unknown key"):
        load_scenario(p)


def test_a_misspelt_training_key_names_file_and_key(tmp_path):
    p = write(tmp_path, "train:\n  align_epoch: 2\n  tiny: {n_layrs: 1}\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    msg = str(e.value)
    assert f"{p}: train.align_epoch: unknown key (did you mean 'align_epochs'?)" in msg
    assert f"{p}: train.tiny.n_layrs: unknown key (did you mean 'n_layers'?)" in msg
    with pytest.raises(ScenarioError, match=r"train\.batch_size: Input should be greater"):
        load_scenario(write(tmp_path, "train: {batch_size: 0}\n"))


def test_the_training_section_records_the_keys_given(tmp_path):
    """A run folder's scenario.yaml keeps only the given keys: the scenario's seed still
    trains, and the cached policy's key reads the same scenario back."""
    from alignuser.training.auto import policy_key, train_config

    p = write(tmp_path, "seed: 5\ntrain: {lr: 1e-3, tiny: {n_layers: 1}}\n")
    s = load_scenario(p)
    assert s.train.lr == 0.001 and s.train.tiny.n_layers == 1 and s.train.seed == 0
    assert s.model_dump(mode="json")["train"] == {"lr": 0.001, "tiny": {"n_layers": 1}}
    assert train_config(s).seed == 5
    back = load_scenario(write(tmp_path, s.to_yaml()))
    assert policy_key(back) == policy_key(s) and train_config(back).seed == 5
    assert Scenario().model_dump()["train"] == {}


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(write(tmp_path, "a: [1,\n"))
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(write(tmp_path, "- 1\n- 2\n"))


def test_precedence_defaults_yaml_overrides(tmp_path):
    p = write(
        tmp_path, "session:\n  max_pages: 7\nrecommenders:\n  - {name: ease, params: {l2: 10}}\n"
    )
    s = load_scenario(p)
    assert s.session.max_pages == 7  # YAML beats default (5)
    assert s.session.items_per_page == 4  # default kept
    s = load_scenario(
        p, ["session.max_pages=2", "recommenders.0.params.l2=300", "social.graph=random"]
    )
    assert s.session.max_pages == 2  # --set beats YAML
    assert s.recommenders[0].params == {"l2": 300}
    assert s.social.graph == "random"


def test_override_errors(tmp_path):
    p = write(tmp_path, "name: x\n")
    with pytest.raises(ScenarioError, match="KEY=VALUE"):
        load_scenario(p, ["session.max_pages"])
    with pytest.raises(ScenarioError, match=r"session\.max_pages: Input should be greater"):
        load_scenario(p, ["session.max_pages=0"])
    with pytest.raises(ScenarioError, match="social.graph"):
        load_scenario(p, ["social.graph=ring"])


def test_semantic_checks(tmp_path):
    with pytest.raises(ScenarioError, match="unique"):
        load_scenario(write(tmp_path, "recommenders:\n  - {name: ease}\n  - {name: ease}\n"))
    with pytest.raises(ScenarioError, match="dataset.path is required"):
        load_scenario(write(tmp_path, "dataset: {source: path}\n"))


def test_round_trip_through_yaml(tmp_path):
    s = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    p = write(tmp_path, s.to_yaml())
    assert load_scenario(p).model_dump() == s.model_dump()


def test_override_expands_string_shorthand(tmp_path):
    p = write(tmp_path, "engine: local\n")
    s = load_scenario(p, ["engine.shards=3"])
    assert s.engine.kind == "local" and s.engine.shards == 3
