"""`alignuser eval <protocol>` on your own data: dataset and split options, one-line errors.

Every shape we generate (no timestamps, no ratings, one user, no test part, an items file
whose id column is named like the interactions') either runs or exits 2 with one line that
names the fix; never a traceback.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from alignuser.data.synthetic import SyntheticWorld
from alignuser.evaluation.cli import eval_app

IDS = ["-o", "columns.user=uid", "-o", "columns.item=movie"]
MAP = [*IDS, "-o", "columns.rating=stars", "-o", "columns.timestamp=ts"]
NO_TS = [*IDS, "-o", "columns.rating=stars"]
NO_RATING = [*IDS, "-o", "columns.timestamp=ts"]
FAST = {"taste": ["--ms", "1", "--seeds", "0"], "fidelity": ["--seeds", "0"]}


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    """A generic-format dataset written from a small synthetic world, and its variants."""
    root = tmp_path_factory.mktemp("own")
    ds = SyntheticWorld(n_users=30, n_items=50, seed=3).dataset(n_sessions_per_user=2)
    df, cat = ds.interactions.df, ds.catalog.df
    ratings = pd.DataFrame({"uid": "u" + df.user_id.astype(str),
                            "movie": "m" + df.item_id.astype(str),
                            "stars": df.rating, "ts": df.timestamp})  # fmt: skip
    ratings.to_csv(root / "ratings.csv", index=False)
    # the items' id column is named like the interactions' item column: found without options
    pd.DataFrame({"movie": "m" + cat.item_id.astype(str), "title": cat.title,
                  "genres": cat.genres.map("|".join)}).to_csv(root / "items.csv", index=False)  # fmt: skip
    ratings.drop(columns="ts").to_csv(root / "nots.csv", index=False)
    ratings.drop(columns="stars").to_csv(root / "norating.csv", index=False)
    ratings[ratings.uid == ratings.uid.iloc[0]].to_csv(root / "one.csv", index=False)
    fold = ratings.assign(fold="train")
    fold.loc[fold.groupby("uid").tail(1).index, "fold"] = "test"
    fold.to_csv(root / "fold.csv", index=False)
    fold.assign(fold="train").to_csv(root / "notest.csv", index=False)
    return root


def _eval(root, protocol, data, *extra, items=True, mapping=MAP):
    args = [protocol, "--data", str(root / data), *mapping, *FAST.get(protocol, []), *extra,
            "--out", str(root / "ev")]  # fmt: skip
    if items:
        args += ["-o", f"items={root / 'items.csv'}"]
    return CliRunner().invoke(eval_app, args)


def _one_line_error(res, *needles):
    """Exit 2, a single 'error: ...' line naming each needle, and no traceback."""
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit), res.exception
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "Traceback" not in res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.mark.parametrize("protocol", ["taste", "rating", "fidelity", "selection"])
def test_every_split_protocol_runs_on_a_generic_csv(csvs, protocol):
    res = _eval(csvs, protocol, "ratings.csv")
    assert res.exit_code == 0, res.output
    name = "selection" if protocol == "selection" else protocol
    out = json.loads((csvs / "ev" / f"{name}.json").read_text())
    (data,) = out["data"]
    assert data["dataset"] == "ratings" and data["split"] == "temporal"
    assert data["train"] > data["test"] > 0
    assert out["summary"]


def test_taste_on_generic_csv_reads_titles_and_the_informed_policies_beat_random(csvs):
    from alignuser.data.loaders import load_dataset

    ds = load_dataset(csvs / "ratings.csv", columns={"user": "uid", "item": "movie"},
                      items=csvs / "items.csv")  # fmt: skip
    assert not ds.catalog.df["title"].str.startswith("Item ").any()  # titles were found
    assert ds.catalog.df["genres"].map(len).min() >= 1
    res = _eval(csvs, "taste", "ratings.csv", "--seeds", "0,1")
    assert res.exit_code == 0, res.output
    s = pd.DataFrame(json.loads((csvs / "ev" / "taste.json").read_text())["summary"])
    auc = s.set_index("policy")["auc"]
    assert auc["random"] == pytest.approx(0.5, abs=0.15)
    assert auc["choice"] > auc["random"] + 0.1


@pytest.mark.parametrize("protocol", ["next-action", "replay"])
def test_page_protocols_on_interactions_say_they_need_impressions(csvs, protocol):
    _one_line_error(_eval(csvs, protocol, "ratings.csv"), "needs an impressions log", "Parquet")


def test_no_ratings(csvs):
    res = _eval(csvs, "rating", "norating.csv", mapping=NO_RATING)
    _one_line_error(res, "explicit ratings", "columns.rating")
    # a mapped column that is absent is named, with the fix
    _one_line_error(_eval(csvs, "rating", "norating.csv"), "rating='stars' not found")
    res = _eval(csvs, "taste", "norating.csv", mapping=NO_RATING)
    assert res.exit_code == 0, res.output  # implicit data suits taste


def test_no_timestamps(csvs):
    res = _eval(csvs, "taste", "nots.csv", "--split", "temporal", mapping=NO_TS)
    line = _one_line_error(res, "needs timestamps", "--split random")
    assert "nots" in line
    res = _eval(csvs, "taste", "nots.csv", mapping=NO_TS)  # auto: random when there is no time
    assert res.exit_code == 0, res.output
    assert json.loads((csvs / "ev" / "taste.json").read_text())["data"][0]["split"] == "random_0"
    res = _eval(csvs, "taste", "nots.csv", "--split", "leave-last-n", mapping=NO_TS)
    _one_line_error(res, "timestamps")
    for protocol in ("rating", "fidelity", "selection"):
        res = _eval(csvs, protocol, "nots.csv", mapping=NO_TS)
        assert res.exit_code == 0, res.output


def test_one_user(csvs):
    for protocol in ("taste", "rating", "fidelity", "selection"):
        res = _eval(csvs, protocol, "one.csv")
        assert res.exit_code in (0, 2), res.output
        if res.exit_code == 2:
            _one_line_error(res)


def test_split_by_column_and_missing_test_part(csvs):
    res = _eval(csvs, "taste", "fold.csv", "--split", "column:fold")
    assert res.exit_code == 0, res.output
    (data,) = json.loads((csvs / "ev" / "taste.json").read_text())["data"]
    assert data["split"] == "column:fold"
    assert data["test"] == pd.read_csv(csvs / "fold.csv")["uid"].nunique()
    _one_line_error(_eval(csvs, "taste", "notest.csv", "--split", "column:fold"),
                    "no 'test' row")  # fmt: skip
    _one_line_error(_eval(csvs, "taste", "ratings.csv", "--split", "column:nope"),
                    "'nope'", "split_column")  # fmt: skip
    _one_line_error(_eval(csvs, "taste", "ratings.csv", "--split", "column:stars"),
                    "use train, valid or test")  # fmt: skip
    _one_line_error(_eval(csvs, "taste", "ratings.csv", "--split", "provided"), "ships no split")


def test_bad_flags_are_one_line(csvs):
    _one_line_error(_eval(csvs, "taste", "ratings.csv", "--split", "sideways"), "unknown split")
    _one_line_error(_eval(csvs, "taste", "nope.csv"), "does not exist")
    _one_line_error(_eval(csvs, "taste", "ratings.csv", "--format", "nope"), "--format")
    _one_line_error(_eval(csvs, "taste", "ratings.csv", "-o", "bogus=1"), "bogus")
    _one_line_error(_eval(csvs, "taste", "ratings.csv", "-o", "novalue"), "KEY=VALUE")
    res = CliRunner().invoke(eval_app, ["taste", "--data", str(csvs / "ratings.csv")])
    _one_line_error(res, "user='user_id'", "columns={'user': COLUMN}")


def test_items_file_without_a_known_id_column(csvs, tmp_path):
    items = pd.read_csv(csvs / "items.csv").rename(columns={"movie": "sku"})
    items.to_csv(tmp_path / "items.csv", index=False)
    res = _eval(csvs, "taste", "ratings.csv", "-o", f"items={tmp_path / 'items.csv'}",
                items=False)  # fmt: skip
    _one_line_error(res, "no item id column", "item_columns={'item': COLUMN}", "sku")
    res = _eval(csvs, "taste", "ratings.csv", "-o", f"items={tmp_path / 'items.csv'}",
                "-o", "item_columns.item=sku", items=False)  # fmt: skip
    assert res.exit_code == 0, res.output


def test_scenario_dataset_and_split(csvs, tmp_path):
    import yaml

    sc = {"name": "own", "seed": 0,
          "dataset": {"source": "path", "path": str(csvs / "ratings.csv"), "format": "generic",
                      "options": {"columns": {"user": "uid", "item": "movie", "rating": "stars",
                                              "timestamp": "ts"},
                                  "items": str(csvs / "items.csv")}},
          "split": {"method": "leave_last_n", "n_test": 1}}  # fmt: skip
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(sc))
    runner = CliRunner()
    res = runner.invoke(eval_app, ["taste", "--scenario", str(path), "--ms", "1", "--seeds", "0",
                                   "--out", str(tmp_path / "ev")])  # fmt: skip
    assert res.exit_code == 0, res.output
    (data,) = json.loads((tmp_path / "ev" / "taste.json").read_text())["data"]
    assert data["split"] == "leave_last_1"
    res = runner.invoke(eval_app, ["rating", "--scenario", str(path), "--split", "random",
                                   "--out", str(tmp_path / "ev")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev" / "rating.json").read_text())["data"][0]["split"] == (
        "random_0"
    )
    both = runner.invoke(eval_app, ["taste", "--scenario", str(path), "--data", "x.csv"])
    _one_line_error(both, "not both")


def test_all_on_own_data_skips_page_protocols_with_their_reason(csvs, tmp_path):
    args = ["all", "--data", str(csvs / "ratings.csv"), *MAP, "-o",
            f"items={csvs / 'items.csv'}", "--out", str(tmp_path / "ev")]  # fmt: skip
    res = CliRunner().invoke(eval_app, args)
    assert res.exit_code == 0, res.output
    written = sorted(p.stem for p in (tmp_path / "ev").glob("*.json"))
    assert written == ["fidelity", "rating", "selection", "taste"]
    assert res.output.count("needs an impressions log") == 2


@pytest.fixture(scope="module")
def pages_csv(tmp_path_factory):
    """The synthetic world's impressions written as a generic CSV, one row per item shown."""
    ds = SyntheticWorld(n_users=40, n_items=60, seed=4).dataset(n_sessions_per_user=3)
    rows = []
    for r in ds.impressions.df.itertuples(index=False):
        for pos, item in enumerate(r.items, 1):
            rows.append((f"u{r.user_id}", f"m{item}", r.timestamp, f"v{r.impression_id}",
                         int(item in r.clicked), pos, "B" if r.user_id % 2 else "A"))  # fmt: skip
    path = tmp_path_factory.mktemp("pages") / "pages.csv"
    pd.DataFrame(rows, columns=["uid", "movie", "ts", "view", "clicked", "slot", "arm"]).to_csv(
        path, index=False
    )
    return path


PAGE_MAP = [*IDS, "-o", "columns.timestamp=ts", "-o", "columns.page=view", "-o",
            "columns.click=clicked", "-o", "columns.position=slot"]  # fmt: skip


@pytest.mark.parametrize("protocol", ["next-action", "replay"])
def test_page_protocols_on_a_generic_impressions_csv(pages_csv, protocol, tmp_path):
    res = CliRunner().invoke(eval_app, [protocol, "--data", str(pages_csv), *PAGE_MAP,
                                        "--seeds", "0", "--out", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    name = protocol.replace("-", "_")
    out = json.loads((tmp_path / f"{name}.json").read_text())
    assert out["data"][0]["impressions"] > 100
    s = pd.DataFrame(out["summary"]).set_index("policy")
    assert s.loc["choice", "status"] == "ok"


def test_ab_arms_on_a_generic_impressions_csv(pages_csv, tmp_path):
    res = CliRunner().invoke(eval_app, ["selection", "--logs", str(pages_csv), *PAGE_MAP,
                                        "-o", "columns.arm=arm", "--arm-column", "arm",
                                        "--out", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    arms = pd.DataFrame(json.loads((tmp_path / "selection.json").read_text())["arms"])
    assert set(arms["arm"]) == {"A", "B"} and (arms["pages"] > 10).all()
    res = CliRunner().invoke(eval_app, ["selection", "--logs", str(pages_csv), *PAGE_MAP,
                                        "--arm-column", "arm"])  # fmt: skip
    _one_line_error(res, "--arm-column 'arm'", "page_id")  # not mapped: named, with the columns
