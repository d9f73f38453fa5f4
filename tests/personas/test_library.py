"""Archetype / mix files: round trip, sampling, and one error per kind of mistake."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from alignuser.errors import ScenarioError
from alignuser.personas import (
    load_archetypes,
    load_mix,
    load_personas,
    make_mix,
    sample_from_dataset,
    sample_from_mix,
    save_personas,
)

ROOT = Path(__file__).resolve().parents[2] / "personas"
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller"]


@pytest.fixture(scope="module")
def arch():
    return load_archetypes(ROOT / "archetypes.yaml")


def _write(tmp_path, text, name="f.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_files_load(arch):
    assert {"binge_watcher", "casual", "critic", "explorer", "mainstream_follower"} <= set(arch)
    for mix_file in ROOT.glob("mix_*.yaml"):
        assert abs(sum(load_mix(mix_file, arch).weights.values()) - 1) < 1e-6
    assert arch["critic"].rating_bias[1] < 0 and arch["critic"].taste.liked == 2


def test_mix_proportions_and_ranges(arch):
    mix = load_mix(ROOT / "mix_default.yaml", arch)
    people = sample_from_mix(mix, arch, n=1000, genres=GENRES, seed=0)
    counts = Counter(p.archetype for p in people)
    for name, w in mix.weights.items():
        assert abs(counts[name] / 1000 - w) <= 0.01
    assert [p.user_id for p in people] == list(range(1000))
    assert len({p.archetype for p in people[:20]}) > 1  # shuffled, not in blocks
    for p in people:
        spec = arch[p.archetype]
        assert spec.patience[0] <= p.patience <= spec.patience[1]
        assert spec.rating_bias[0] <= p.rating_bias <= spec.rating_bias[1]
        assert not set(p.liked_genres) & set(p.disliked_genres)
        assert set(p.liked_genres) <= set(GENRES) and all(p.taste[g] > 0 for g in p.liked_genres)
    critics = [p for p in people if p.archetype == "critic"]
    assert all(p.pickiness_level == 3 and p.conformity_level == 3 for p in critics)


def test_seeded_determinism(arch):
    mix = make_mix({"explorer": 0.5, "critic": 0.5})
    a = sample_from_mix(mix, arch, 50, GENRES, seed=7)
    b = sample_from_mix(mix, arch, 50, GENRES, seed=7)
    c = sample_from_mix(mix, arch, 50, GENRES, seed=8)
    assert a == b and a != c


def test_explicit_genres_and_unknown_genre(tmp_path):
    path = _write(
        tmp_path, "archetypes:\n  fan:\n    taste: {liked: [Drama], disliked: [Horror]}\n"
    )
    arch = load_archetypes(path)
    (p,) = sample_from_mix({"fan": 1.0}, arch, 1, GENRES, seed=0)
    assert p.liked_genres == ("Drama",) and p.disliked_genres == ("Horror",)
    with pytest.raises(
        ScenarioError, match=r"f\.yaml: archetypes\.fan\.taste\.liked: unknown genre 'Drama'"
    ):
        sample_from_mix({"fan": 1.0}, arch, 1, ["Comedy", "Horror"], seed=0)


def test_sample_from_dataset(arch):
    real = sample_from_mix({"casual": 1.0}, arch, 10, GENRES, seed=1)
    boot = sample_from_dataset(real, 200, seed=3)
    assert [p.user_id for p in boot] == list(range(200))
    assert {p.source_id for p in boot} <= set(range(10)) and len({p.source_id for p in boot}) > 5
    assert (
        boot[0].with_id(real[boot[0].source_id].user_id, source_id=None) == real[boot[0].source_id]
    )
    assert sample_from_dataset(real, 20, seed=3) == boot[:20]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_persona_file_round_trip(tmp_path, arch, suffix):
    people = sample_from_mix({"critic": 1.0}, arch, 5, GENRES, seed=0)
    save_personas(people, tmp_path / f"p{suffix}")
    assert load_personas(tmp_path / f"p{suffix}") == people


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "archetypes:\n  a:\n    patiance: 0.5\n",
            r"f\.yaml: archetypes\.a\.patiance: Extra inputs",
        ),
        ("archetypes:\n  a:\n    patience: high\n", r"f\.yaml: archetypes\.a\.patience: .*number"),
        ("archetypes:\n  a:\n    patience: [0.9, 0.1]\n", r"archetypes\.a\.patience: .*above high"),
        (
            "archetypes:\n  a:\n    conformity: 1.5\n",
            r"archetypes\.a\.conformity: .*within \[0\.0, 1\.0\]",
        ),
        (
            "archetypes:\n  a:\n    taste: {liked: some}\n",
            r"archetypes\.a\.taste\.liked: .*random K",
        ),
        ("archetypez: {}\n", r"f\.yaml: archetypez: Extra inputs"),
        ("archetypes: [\n", r"f\.yaml:\d+: invalid YAML"),
    ],
)
def test_archetype_errors(tmp_path, text, match):
    with pytest.raises(ScenarioError, match=match):
        load_archetypes(_write(tmp_path, text))


@pytest.mark.parametrize(
    "text, match",
    [
        ("casual: 0.5\ncritic: 0.4\n", r"m\.yaml: proportions sum to 0\.9"),
        ("casual: 0.5\nnobody: 0.5\n", r"m\.yaml: nobody: unknown archetype"),
        ("casual: lots\ncritic: 0.5\n", r"m\.yaml: casual: .*number"),
        ("casual: 1.5\ncritic: -0.5\n", r"m\.yaml: casual: .*less than or equal"),
        ("- casual\n", r"m\.yaml: \(top level\)"),
    ],
)
def test_mix_errors(tmp_path, arch, text, match):
    with pytest.raises(ScenarioError, match=match):
        load_mix(_write(tmp_path, text, "m.yaml"), arch)


def test_missing_file_and_impossible_random(tmp_path, arch):
    with pytest.raises(ScenarioError, match=r"nope\.yaml: cannot read"):
        load_archetypes(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError, match=r"archetypes\.explorer\.taste\.liked: 'random 4'"):
        sample_from_mix({"explorer": 1.0}, arch, 1, ["Drama", "Comedy"], seed=0)
