"""``bet reproduce`` plumbing on gowalla-mini with tiny settings: an interrupted search resumes
under the same run id, completed runs become CSV rows with a per-phase time split, and the
table is appended to row by row."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bet.cli.reproduce import _run, parse_cells
from bet.data import Dataset
from bet.errors import ConfigError
from bet.events import CandidateEvaluated, Event
from bet.paper import TABLE_COLUMNS, append_row, config_hash, phase_seconds, read_table, table_row
from bet.runs import run_search
from bet.store import RunStore
from tests.search_helpers import TINY


def test_interrupted_search_resumes_and_lands_in_the_table(mini: Dataset, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    stop = threading.Event()

    def stop_after_two(ev: Event) -> None:
        if isinstance(ev, CandidateEvaluated) and ev.action_id >= 2:
            stop.set()

    first = run_search(TINY, store, data=mini, stop=stop, on_event=stop_after_two)
    assert first.status == "stopped"
    done = _run(store, TINY, mini, stop=threading.Event())
    assert done.run_id == first.run_id and done.status == "completed"
    assert len(store.list_runs()) == 1  # resumed, not started again
    # a second call reuses the completed run
    assert _run(store, TINY, mini, stop=threading.Event()).run_id == first.run_id

    phases = phase_seconds(store, done)
    assert phases["finetune"] > 0 and phases["evaluation"] > 0 and phases["retrain"] > 0 and phases["predictor"] > 0
    evaluated = store.events(done.run_id, kinds=("candidate_evaluated",))  # each part counted once
    parts = phases["finetune"] + phases["evaluation"] + phases["predictor"]
    assert parts == pytest.approx(sum(e["seconds"] for e in evaluated))
    assert phases["baseline"] == 0

    row = table_row(store, done, method="bet", device="cpu")
    assert row["config"] == config_hash(TINY.to_dict())
    assert 0 < float(row["recall@20"]) < 1 and row["paper_recall@20"] == ""  # mini is not a paper cell
    assert row["cost"] <= row["budget"]
    table = tmp_path / "docs" / "table1.csv"
    append_row(table, row)
    append_row(table, {**row, "method": "su"})
    rows = read_table(table)
    assert [r["method"] for r in rows] == ["bet", "su"]
    assert list(rows[0]) == list(TABLE_COLUMNS)
    assert table.read_text().count("dataset,backbone") == 1


def test_cells_are_checked() -> None:
    assert parse_cells("gowalla/lightgcn/0.95") == [("gowalla", "lightgcn", 0.95)]
    with pytest.raises(ConfigError, match="not a Table 1 cell"):
        parse_cells("gowalla/lightgcn/0.5")
    with pytest.raises(ConfigError, match="dataset/backbone/sparsity"):
        parse_cells("gowalla-lightgcn")


@pytest.mark.gpu
def test_reproduce_path_on_cuda(mini: Dataset, tmp_path: Path) -> None:
    """The GPU path of `bet reproduce --device cuda` with tiny settings: a search (narrow
    LightGCN training, int32 graph, the predictor) and a baseline complete on CUDA, rows land in
    the table with device = cuda."""
    import dataclasses

    from bet.config import BaselineConfig

    store = RunStore(tmp_path / "gpu.sqlite")
    search = dataclasses.replace(TINY, device="cuda", redraws=20)
    run = _run(store, search, mini, stop=threading.Event())
    assert run.status == "completed"
    su = BaselineConfig(search.data, "lightgcn", "su", 0.95, 0, "cuda", 128, search.retrain, search.pretrain)
    base = _run(store, su, mini, stop=threading.Event())
    assert base.status == "completed"
    table = tmp_path / "table1.csv"
    for r, m in ((run, "bet"), (base, "su")):
        append_row(table, table_row(store, r, method=m, device="cuda"))
    rows = read_table(table)
    assert [r["device"] for r in rows] == ["cuda", "cuda"]
    assert all(0 < float(r["recall@20"]) < 1 for r in rows)


def test_exit_code_says_whether_every_row_landed(
    mini: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reproduction that was stopped exits 1 (as search and frontier do), so a chained script
    (`reproduce … && reproduce …`) stops there; one whose rows all landed exits 0."""
    import dataclasses

    import bet.cli.reproduce as reproduce
    from bet.cli import main
    from bet.config import DataSpec

    monkeypatch.setattr(DataSpec, "load", lambda self: mini)  # the full dataset is not needed here
    status = {"now": "stopped"}

    def fake_run(store: RunStore, cfg: object, data: Dataset, *, stop: threading.Event) -> object:
        first = run_search(TINY, store, data=mini, stop=threading.Event())
        return dataclasses.replace(store.get_run(first.run_id), status=status["now"])

    monkeypatch.setattr(reproduce, "_run", fake_run)
    argv = ["reproduce", "--cells", "gowalla/lightgcn/0.95", "--methods", "su", "--device", "cpu"]
    argv += ["--store", str(tmp_path / "r.sqlite"), "--table", str(tmp_path / "t.csv")]
    assert main(argv) == 1
    assert "stopped" in capsys.readouterr().out
    assert main([*argv, "--dry-run"]) == 0  # prints what is stored; nothing was asked to run
    status["now"] = "completed"
    assert main(argv) == 0
    assert "completed" in capsys.readouterr().out and len(read_table(tmp_path / "t.csv")) == 1
