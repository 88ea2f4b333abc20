"""Recorded studies (bet.study, bench/make_study.py, dashboard.study): the runs behind docs/table1.csv
copied into a small read-only store whose numbers equal the table's rows — on a synthetic study
built here, and on the study shipped in assets/studies/ where there is one."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from pathlib import Path

import pytest
from dashboard_helpers import ROOT, fill_store
from test_hostile_store import read_only

from bet.data import load_dataset
from bet.errors import StoreError
from bet.paper import read_table, table_row
from bet.store import RunStore
from bet.study import build, comparison_id, mismatches
from dashboard import study as studies

sys.path.insert(0, str(ROOT / "bench"))
import make_study

#: The studies shipped in assets/studies/ (full Gowalla, full Yelp2018).
SHIPPED = sorted((ROOT / "assets" / "studies").glob("*.sqlite"))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list[dict[str, str]]]:
    """A store with a completed search, its full/pop/SU references and a failed NCF run; a table
    with rows for the search and SU, and one for a run recorded elsewhere."""
    folder = tmp_path_factory.mktemp("study-source")
    store = RunStore(folder / "source.sqlite")
    ids = fill_store(store, load_dataset("gowalla-mini"))
    rows = [table_row(store, store.get_run(ids[m]), method=m, device="cpu") for m in ("bet", "su")]
    rows.append({**rows[0], "run_id": "20261130-004505-46b7f4"})  # not in this store
    store.close()
    return folder / "source.sqlite", ids, [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows]


def test_study_keeps_the_table_runs_and_their_references_without_packed_tables(source, tmp_path: Path) -> None:
    path, ids, rows = source
    sel = build(path, tmp_path / "s.sqlite", rows=rows, name="s")
    assert set(sel.in_table) == {ids["bet"], ids["su"]}
    assert set(sel.run_ids) == {ids["bet"], ids["su"], ids["full"], ids["pop"]}  # not the failed NCF run
    assert [why for _, why in sel.left_out] == [f"not in {path}"]
    study, src = RunStore(tmp_path / "s.sqlite", read_only=True), RunStore(path, read_only=True)
    for rid in sel.run_ids:
        assert study.events(rid) == src.events(rid) and study.actions(rid) == src.actions(rid)
        assert (
            study.get_run(rid).comparison_id == comparison_id("s", src.get_run(rid)) == "study-s-gowalla-mini-lightgcn"
        )
    best = study.get_run(ids["bet"]).result["best_action_id"]
    assert (study.action(ids["bet"], best).user_sizes == src.action(ids["bet"], best).user_sizes).all()
    with pytest.raises(StoreError, match="no packed table"):
        study.table(ids["bet"])
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # no -wal/-shm to read it
    conn.close()


def test_numbers_equal_the_table_and_a_differing_row_is_refused(source, tmp_path: Path) -> None:
    path, ids, rows = source
    out = tmp_path / "s.sqlite"
    build(path, out, rows=rows, name="s")
    checked, problems = mismatches(RunStore(out, read_only=True), rows)
    assert checked == [ids["bet"], ids["su"]] and problems == []
    before = out.read_bytes()
    for key, value in (("recall@20", "0.9999"), ("cost", "1"), ("budget", "2"), ("config", "0123456789ab")):
        wrong = [{**r, key: value} if r["run_id"] == ids["bet"] else r for r in rows]
        checked, problems = mismatches(RunStore(out, read_only=True), wrong)
        assert len(problems) == 1 and key in problems[0] and ids["bet"] in problems[0]
        with pytest.raises(StoreError, match="disagrees with the table"):
            build(path, out, rows=wrong, name="s")
        assert out.read_bytes() == before  # the study in place is kept, nothing half-written beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]


def test_runs_today_s_code_does_not_rebuild_are_left_out_with_why(
    source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run made by an earlier version of its preset (``fast`` before 2026-12-07) has no command
    that reproduces it: the study leaves it out — its table row listed with why, a reference
    never kept beside the others — rather than show a command that builds something else."""
    path, ids, rows = source
    why = {ids["su"]: "an earlier su", ids["full"]: "an earlier full"}
    sel = build(path, tmp_path / "s.sqlite", rows=rows, name="s", leave_out=why)
    assert set(sel.run_ids) == {ids["bet"], ids["pop"]}
    assert [w for _, w in sel.left_out] == ["an earlier su", f"not in {path}"]
    # make_study decides it from the command: a run whose command builds another configuration
    monkeypatch.setattr(
        make_study, "reproduce", lambda run, sel: (["reproduce", "--preset", "fast"], run.method != "su")
    )
    left = make_study.superseded([path], rows)
    assert list(left) == [ids["su"]] and "python -m bet reproduce --preset fast" in left[ids["su"]]


def test_a_study_takes_runs_from_several_stores(source, tmp_path: Path) -> None:
    """An earlier study is a source like any store: a new study keeps its runs (their own store
    may be gone) beside the new ones, each run from the first store that holds it."""
    path, ids, rows = source
    earlier = tmp_path / "earlier.sqlite"
    build(path, earlier, rows=rows[:1], name="s")  # BET and its references only
    sel = build([earlier, path], tmp_path / "s.sqlite", rows=rows, name="s")
    assert set(sel.in_table) == {ids["bet"], ids["su"]} and set(sel.run_ids) == {
        ids[m] for m in ("bet", "su", "full", "pop")
    }
    study, src = RunStore(tmp_path / "s.sqlite", read_only=True), RunStore(path, read_only=True)
    for rid in sel.run_ids:
        assert study.events(rid) == src.events(rid) and study.actions(rid) == src.actions(rid)
    assert mismatches(study, rows) == ([ids["bet"], ids["su"]], [])
    with pytest.raises(StoreError, match="over its source"):
        build([path, earlier], earlier, rows=rows, name="s")


def test_nothing_to_record_and_no_study_over_its_source(source, tmp_path: Path) -> None:
    path, _, rows = source
    with pytest.raises(StoreError, match="nothing to record"):
        build(path, tmp_path / "s.sqlite", rows=rows[2:], name="s")
    with pytest.raises(StoreError, match="over its source"):
        build(path, path, rows=rows, name="s")
    assert not (tmp_path / "s.sqlite").exists()


def test_make_study_writes_a_manifest_the_dashboard_lists_and_opens_read_only(source, tmp_path: Path) -> None:
    path, ids, rows = source
    table = tmp_path / "table.csv"
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    folder = tmp_path / "studies"
    assert make_study.main(["--source", str(path), "--table", str(table), "--out", str(folder / "mini.sqlite"),
                            "--title", "Recorded study: mini", "--where", "a test"]) == 0  # fmt: skip
    doc = json.loads((folder / "mini.json").read_text())
    assert doc["headline"] == ids["bet"] and doc["table_rows"] == 2 and doc["where"].endswith("a test")
    assert {r["run_id"]: r["in_table"] for r in doc["runs"]} == {ids["bet"]: True, ids["su"]: True,
                                                                ids["full"]: False, ids["pop"]: False}  # fmt: skip
    assert doc["left_out"][0]["run_id"] == "20261130-004505-46b7f4"
    with read_only(folder):  # a read-only checkout (for root: a read-only bind mount)
        with pytest.raises(OSError):
            (folder / "probe").write_text("x")
        found = studies.available(folder)
        assert [s.title for s in found] == ["Recorded study: mini"] and found[0].headline == ids["bet"]
        store = studies.open_store(found[0])
        assert {r.run_id for r in store.list_runs()} == {r["run_id"] for r in doc["runs"]}
        assert store.get_run(ids["bet"]).status == "completed" and store.actions(ids["bet"])
        with pytest.raises(StoreError, match="read-only"):
            store.delete_run(ids["bet"])
        store.close()
        assert sorted(p.name for p in folder.iterdir()) == ["mini.json", "mini.sqlite"]  # nothing beside it


def test_make_study_keeps_one_dataset_and_dates_a_resumed_run_by_its_first_start(
    source, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--dataset`` keeps only that dataset's rows (one study per dataset from one table); a run
    resumed later is dated from when it was created, not from its last resume."""
    original, ids, rows = source
    path = tmp_path / "source.sqlite"
    path.write_bytes(original.read_bytes())
    with sqlite3.connect(path) as db:  # the BET run resumed a day after it was created
        created = db.execute("SELECT created_at FROM runs WHERE run_id = ?", (ids["bet"],)).fetchone()[0]
        db.execute("UPDATE runs SET started_at = ? WHERE run_id = ?", (created + 86400, ids["bet"]))
    table = tmp_path / "table.csv"
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([*rows, {**rows[0], "dataset": "yelp2018", "run_id": "20261208-025519-b10101"}])
    args = ["--source", str(path), "--table", str(table), "--out", str(tmp_path / "s" / "m.sqlite")]
    assert make_study.main([*args, "--dataset", "movielens"]) == 2
    assert "no rows of dataset 'movielens'" in capsys.readouterr().err
    assert not (tmp_path / "s" / "m.sqlite").exists()
    assert make_study.main([*args, "--dataset", "gowalla-mini"]) == 0
    doc = json.loads((tmp_path / "s" / "m.json").read_text())
    assert doc["table_rows"] == 2 and all(r["run_id"] != "20261208-025519-b10101" for r in doc["left_out"])
    first = next(r for r in doc["runs"] if r["run_id"] == ids["bet"])
    assert first["started"] == make_study._utc(created) != make_study._utc(created + 86400)
    assert doc["ran_from"] <= first["started"]


def test_a_manifest_without_its_store_is_not_listed(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"title": "A", "store": "a.sqlite"}))
    (tmp_path / "b.json").write_text("{not json")
    (tmp_path / "c.json").write_text(json.dumps({"store": "../elsewhere.sqlite"}))
    (tmp_path / "elsewhere.sqlite").write_bytes(b"")
    assert studies.available(tmp_path) == []


@pytest.mark.skipif(not SHIPPED, reason="no shipped study yet (bench/make_study.py builds it)")
@pytest.mark.parametrize("shipped", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_study_equals_docs_table1(shipped: Path) -> None:
    """Each recorded study shipped (full Gowalla, full Yelp2018): every run of it that
    docs/table1.csv names has the row's numbers (test and validation metrics, budget, cost,
    configuration), at least one BET run among them; each table run's reproduce command rebuilds
    its configuration."""
    rows = read_table(ROOT / "docs" / "table1.csv")
    store = RunStore(shipped, read_only=True)
    checked, problems = mismatches(store, rows)
    assert problems == []
    methods = {store.get_run(rid).method for rid in checked}
    assert "bet" in methods, f"the study holds no BET row of docs/table1.csv (it checked {sorted(methods)})"
    study = studies.load(shipped.with_suffix(".json"))
    assert study is not None and study.headline in {r.run_id for r in store.list_runs()}
    assert all(r["reproduces_config"] for r in study.manifest["runs"] if r["in_table"])
    assert shipped.stat().st_size < 10e6
