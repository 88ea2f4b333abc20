"""The dashboard's widgets and validation messages through streamlit's AppTest (no browser).

AppTest does not drive timed fragment reruns (streamlit issue 9242): live updates are covered by
the runner tests and the browser test. Each test gets its own ``BET_HOME`` (set before any store
is created), hence its own store and runner.
"""

from __future__ import annotations

import ast
import json
import sqlite3
import tomllib
from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import TIMEOUT, app, no_exceptions, page_script, texts
from dashboard_helpers import ROOT, add_run, fill_store, tiny_config
from streamlit.testing.v1 import AppTest

from bet import report
from bet.config import DataSpec
from bet.data import load_dataset
from bet.errors import DataError
from bet.store import RunStore
from bet.store.schema import create_v1


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BET_HOME", str(tmp_path))
    return tmp_path


def page(name: str, run: str | None = None) -> AppTest:
    at = AppTest.from_function(page_script, args=(str(ROOT), name), default_timeout=TIMEOUT)
    if run is not None:
        at.query_params["run"] = run
    return at.run()


def test_empty_store_opens_on_the_demo_with_a_live_budget_readout(home: Path) -> None:
    at = app().run()
    no_exceptions(at)
    assert at.button(key="demo").label == "Run the demo"
    assert any("One-click demo" in t for t in texts(at, "markdown"))
    assert any("keeps **87,488** of 874,880 parameters" in t for t in texts(at, "markdown"))
    assert at.selectbox(key="dataset").value == "gowalla-mini" and at.slider(key="sparsity").value == 0.9
    assert at.number_input(key="iterations").value == 50 and at.number_input(key="candidates").value == 100
    assert not at.button(key="start").disabled
    at.slider(key="sparsity").set_value(0.5).run()
    assert any("keeps **437,440**" in t for t in texts(at, "markdown"))


def test_what_cannot_fit_in_memory_is_refused_before_start(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12: the dashboard estimates memory as the CLI does and refuses, with the estimate."""
    monkeypatch.setenv("BET_MEMORY_MB", "16")  # gowalla-mini's full table alone needs ~28 MB to train
    at = app().run()
    no_exceptions(at)
    errors = texts(at, "error")
    assert any("Too big for this server" in e and "more than the 0.02 GB available" in e for e in errors), errors
    assert at.button(key="start").disabled


def test_infeasible_budget_is_refused_with_the_reason(home: Path) -> None:
    at = app().run()
    at.number_input(key="d_max").set_value(16)
    at.slider(key="sparsity").set_value(0.99)
    at.run()
    no_exceptions(at)
    errors = texts(at, "error")
    assert any("Infeasible budget" in e and "sparsity at most 0.9375 with d_max = 16" in e for e in errors), errors
    assert at.button(key="start").disabled
    at.slider(key="sparsity").set_value(0.9).run()
    assert not texts(at, "error") and not at.button(key="start").disabled
    at.multiselect(key="backbones").set_value(["lightgcn", "ncf"]).run()  # 1.6 per row: NCF keeps two
    assert any("Infeasible budget" in e and "infeasible for ncf" in e for e in texts(at, "error"))
    assert at.button(key="start").disabled


def test_malformed_or_missing_file_shows_the_engines_message(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BET_DATA_DIRS", str(tmp_path))  # server paths: only inside the allowed folders
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2\nfoo bar\n3 4\n")
    at = app().run()
    at.radio(key="data_source").set_value("server path").run()
    assert at.button(key="start").disabled
    at.text_input(key="data_path").input(str(bad)).run()
    no_exceptions(at)
    shown = [e.replace("\\", "") for e in texts(at, "error")]  # as the page shows the escaped markdown
    assert any("bad.txt:2: " in e for e in shown), shown  # the file and line (BET_HOME shown as $BET_HOME)
    assert at.button(key="start").disabled
    at.text_input(key="data_path").input(str(tmp_path / "nope.txt")).run()
    assert any("no such file or folder" in e for e in texts(at, "error"))


def test_uploads_are_kept_under_bet_home_and_validated_by_the_engine(home: Path) -> None:
    from dashboard import settings

    path = settings.save_upload("../my data.txt", b"1 2\nfoo bar\n")
    assert path.parent.parent == home / "uploads" and path.name == "my_data.txt"  # named as uploaded
    assert settings.save_upload("../my data.txt", b"1 2\nfoo bar\n") == path  # the same file: reused
    assert settings.save_upload("other.txt", b"1 2\nfoo bar\n").read_bytes() == path.read_bytes()
    assert settings.save_upload("my data.txt", b"5 6\n").name == "my_data-2.txt"  # another file, same name
    with pytest.raises(DataError, match=r"my_data.txt:2: column 1 is not a non-negative integer id") as err:
        load_dataset(path)
    assert settings.redact(str(err.value)).startswith("my_data.txt:2: column 1 is not")
    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert conf["server"]["address"] == "localhost" and conf["server"]["maxUploadSize"] <= 200


def test_every_way_to_start_the_server_skips_the_full_gc_after_each_rerun() -> None:
    """Streamlit's default ``gc.collect(2)`` after every script run took ~3/4 of the server's CPU while a
    search was watched (bench/watch_vs_cli.py: 1.24× the CLI time with it, 1.07× without)."""
    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert conf["runner"]["postScriptGC"] is False  # make run, streamlit run from the root
    source = ast.parse((ROOT / "dashboard" / "app.py").read_text())  # importing it would draw the app
    (flags,) = [ast.literal_eval(n.value) for n in source.body if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "SAFE_FLAGS" for t in n.targets)]  # fmt: skip
    flags = list(flags)
    assert flags[flags.index("--runner.postScriptGC") + 1] == "false"  # python dashboard/app.py


def test_start_queues_a_run_and_stop_stops_it(home: Path) -> None:
    from dashboard import state

    at = app().run()
    at.button(key="start").click().run()
    no_exceptions(at)
    runs = RunStore(home / "bet.sqlite").list_runs()
    assert len(runs) == 1 and runs[0].config["iterations"] == 50 and runs[0].backbone == "lightgcn"
    runner = state._runner(str(home / "bet.sqlite"))  # the process-wide runner the page used
    assert runs[0].run_id in runner.queued() + runner.running()
    runner.stop(runs[0].run_id)
    assert runner.wait(timeout=60)
    assert RunStore(home / "bet.sqlite").list_runs()[0].status == "stopped"


def test_pages_render_the_stored_runs(home: Path) -> None:
    store = RunStore(home / "bet.sqlite")
    ids = fill_store(store, load_dataset("gowalla-mini"))
    at = page("live", ids["bet"])
    no_exceptions(at)
    assert "Status: completed" in texts(at, "markdown")
    assert len(at.get("plotly_chart")) == 6  # rankings, predicted vs actual, spearman, fitness, sizes, size/freq
    assert [b.proto.label for b in at.get("download_button")] == ["Download report"]
    html = report.render(store, [ids["bet"]])  # what the button serves (bet.report, tested in test_report)
    assert ids["bet"] in html and "<svg" in html and "<script" not in html
    at = page("live", ids["failed"])
    assert "Status: failed" in texts(at, "markdown") and any("something went wrong" in e for e in texts(at, "error"))
    at = page("frontier")
    no_exceptions(at)
    assert len(at.get("plotly_chart")) == 1 and at.text_input(key="sweep_sparsities").value == "0.8, 0.9, 0.95"
    at = page("compare")
    no_exceptions(at)
    assert len(at.get("plotly_chart")) >= 3
    at = page("why", ids["bet"])
    no_exceptions(at)
    assert any("of the parameters" in t for t in texts(at, "markdown")) and len(at.get("plotly_chart")) == 3
    at = page("runs")
    no_exceptions(at)
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 5


def test_a_store_written_by_an_older_schema_just_works(home: Path) -> None:
    conn = sqlite3.connect(home / "bet.sqlite", isolation_level=None)
    create_v1(conn)
    conn.execute(
        "INSERT INTO runs (run_id, kind, method, dataset, backbone, sparsity, budget, seed, config, status,"
        " created_at, result) VALUES ('old-1', 'baseline', 'su', 'gowalla-mini', 'lightgcn', 0.9, 87488, 0, '{}',"
        ' \'completed\', 1.0, \'{"test": {"recall@20": 0.2}, "cost": 87488}\')'
    )
    conn.close()
    at = app().run()
    no_exceptions(at)
    assert "Status: completed" in texts(at, "markdown")
    assert RunStore(home / "bet.sqlite").get_run("old-1").executor == "local"  # migrated


def test_backbones_page_shows_the_run_better_on_validation_not_on_test(home: Path) -> None:
    store, data = RunStore(home / "bet.sqlite"), load_dataset("gowalla-mini")
    lucky = add_run(store, data, valid=0.18, test=0.30, created_at=2e9)  # the newer, better on test
    sound = add_run(store, data, valid=0.21, test=0.22, created_at=1e9)
    at = page("compare")
    no_exceptions(at)
    assert f"run {sound} · completed" in texts(at, "caption") and not any(lucky in t for t in texts(at, "caption"))
    assert [(m.label, m.value) for m in at.metric] == [("valid recall@20", "0.2100")]
    assert "test recall@20 0.2200 (read-out)" in texts(at, "caption")


def test_wherever_mde_is_shown_the_page_says_it_is_a_simplification(home: Path) -> None:
    from dashboard.charts import MDE_NOTE, METHOD_NAMES

    store, data = RunStore(home / "bet.sqlite"), load_dataset("gowalla-mini")
    ids = fill_store(store, data)
    mde = add_run(store, data, "mde", valid=0.19, test=0.19, created_at=1.0)
    assert "frequency blocks" in MDE_NOTE and "^0.5" in MDE_NOTE and "simplified" in METHOD_NAMES["mde"]
    for name, run in (("frontier", None), ("why", ids["bet"]), ("live", mde)):
        at = page(name, run)
        no_exceptions(at)
        assert MDE_NOTE in texts(at, "caption"), name
    assert page("frontier").multiselect(key="sweep_methods").help == MDE_NOTE


def all_text(at: AppTest) -> str:
    kinds = ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success")
    return "\n".join([t for k in kinds for t in texts(at, k)] + [str(e.value) for e in at.get("code")])


def test_a_run_on_an_upload_is_named_after_the_file_and_pages_show_no_server_path(home: Path) -> None:
    from dashboard import settings

    rng = np.random.default_rng(0)
    lines = [f"{u}\t{i}\t5" for u in range(40) for i in rng.choice(30, 8, replace=False)]
    path = settings.save_upload("u.data", ("\n".join(lines) + "\n").encode())
    data = load_dataset(path)
    assert data.name == "u.data"
    store = RunStore(home / "bet.sqlite")
    rid = store.create_run(kind="search", method="bet", dataset=data.name, backbone="lightgcn", sparsity=0.9, seed=0,
                           config=tiny_config(data=DataSpec(str(path))).to_dict(), iterations=2)  # fmt: skip
    error = f'DataError: {path}:2: broken\nTraceback:\n  File "{ROOT}/bet/jobs.py", line 1, in record'
    store.update_run(rid, status="failed", phase="failed", error=error)
    assert "u.data" in settings.redact(json.dumps(store.get_run(rid).config))  # the Runs page's frozen config
    assert str(home) not in settings.redact(json.dumps(store.get_run(rid).config))
    for name in ("live", "runs"):
        at = page(name, rid)
        no_exceptions(at)
        shown = all_text(at) + "".join(df.value.to_string() for df in at.dataframe)
        assert "u.data" in shown and str(home) not in shown and str(ROOT) not in shown, shown
    at = page("live", rid)
    assert texts(at, "subheader") == ["BET · lightgcn · u.data · c=0.9 · failed"]
    assert texts(at, "error") == ["DataError: u.data:2: broken"] and 'File ".../jobs.py"' in texts(at, "code")[0]


def test_after_the_demo_the_live_page_opens_on_its_bet_run(home: Path) -> None:
    store, data = RunStore(home / "bet.sqlite"), load_dataset("gowalla-mini")
    bet = add_run(store, data, valid=0.2, test=0.2, created_at=1e9, comparison_id="demo-1")
    for i, method in enumerate(("full", "pop"), start=1):  # queued after the search: newer
        add_run(store, data, method, valid=0.2, test=0.2, created_at=1e9 + i, comparison_id="demo-1")
    at = page("live")
    no_exceptions(at)
    assert texts(at, "subheader")[0].startswith("BET · lightgcn") and at.main.selectbox[0].value == bet


def test_start_is_at_the_top_of_the_sidebar(home: Path) -> None:
    at = app().run()
    top = list(at.sidebar.children.values())
    start_bar = next(i for i, c in enumerate(top) if getattr(c, "key", None) == "start-bar")
    assert start_bar <= 2 and start_bar < next(i for i, c in enumerate(top) if getattr(c, "key", None) == "data_source")
    assert at.button(key="start").label == "Start search"
    assert "Starts lightgcn on gowalla-mini at c = 0.9 (set below)." in texts(at, "caption")
