"""Hostile and mistaken uses of the dashboard (issue 20), through streamlit's AppTest: server
paths only inside ``BET_DATA_DIRS`` and never in multi-user mode, one message for missing and
forbidden paths, no file content and no server folder on screen, any upload name stored safely,
a reader's error shown (never a crashed session), the candidate pool's memory checked before Start,
names from the store rendered as text (never as a link, an image or markup)."""

from __future__ import annotations

import dataclasses
import gzip
import os
import time
from pathlib import Path

import numpy as np
import pytest
from dashboard_helpers import APP, ROOT, tiny_config
from streamlit.testing.v1 import AppTest

from bet.config import DataSpec
from bet.errors import StoreError
from bet.store import RunStore

TIMEOUT = 60
SECRET = "AWS_SECRET_ACCESS_KEY=hunter2-do-not-show"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BET_DATA_DIRS", raising=False)
    monkeypatch.delenv("BET_DASHBOARD_USERS", raising=False)
    return tmp_path / "home"


def app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def texts(at: AppTest, *kinds: str) -> list[str]:
    return [str(e.value) for k in kinds for e in getattr(at, k)]


def on_screen(at: AppTest) -> str:
    kinds = ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success")
    return "\n".join(texts(at, *kinds) + [str(e.value) for e in at.get("code")])


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def interactions(n_users: int = 40, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return "".join(f"{u}\t{i}\t5\n" for u in range(n_users) for i in rng.choice(30, 8, replace=False))


def server_path(at: AppTest, text: str) -> AppTest:
    at.radio(key="data_source").set_value("server path").run()
    at.text_input(key="data_path").input(text).run()
    no_exceptions(at)
    return at


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A secret next to (not inside) the allowed folder, as a ``.env`` file would be."""
    secret = tmp_path / "private" / ".env"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\nOTHER=1\n")
    return secret


@pytest.fixture
def allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outside: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "good.tsv").write_text(interactions())
    (folder / "leak").symlink_to(outside)  # a link inside the allowed folder pointing out of it
    monkeypatch.setenv("BET_DATA_DIRS", os.pathsep.join([str(folder), str(tmp_path / "missing-dir")]))
    return folder


def test_server_paths_are_off_until_the_operator_allows_folders(home: Path, outside: Path) -> None:
    at = app().run()
    at.radio(key="data_source").set_value("server path").run()
    no_exceptions(at)
    assert any("set BET_DATA_DIRS to allow server paths" in t for t in texts(at, "info")), texts(at, "info")
    assert not [w for w in at.text_input if w.key == "data_path"] and at.button(key="start").disabled


def test_server_paths_are_off_in_multi_user_mode(home: Path, allowed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BET_DASHBOARD_USERS", "multi")
    at = app().run()
    at.radio(key="data_source").set_value("server path").run()
    no_exceptions(at)
    assert any("several people use this server" in t for t in texts(at, "info"))
    assert not [w for w in at.text_input if w.key == "data_path"] and at.button(key="start").disabled


def test_a_server_path_outside_the_allowed_folders_is_refused_like_a_missing_one(
    home: Path, allowed: Path, outside: Path
) -> None:
    refusals = []
    for text in (str(outside), str(allowed / ".." / "private" / ".env"), str(allowed / "leak"), "leak",
                 str(outside.parent / "nope.env"), str(allowed / "nope.tsv"), "/etc/passwd", "../private/.env",
                 str(allowed) + "/\x00x", "~/.bashrc"):  # fmt: skip
        at = server_path(app().run(), text)
        errors = texts(at, "error")
        assert len(errors) == 1 and at.button(key="start").disabled, (text, errors)
        assert "hunter2" not in on_screen(at) and "AWS" not in on_screen(at), text
        refusals.append(errors[0])
    assert len(set(refusals)) == 1 and "BET\\_DATA\\_DIRS" in refusals[0], set(refusals)  # missing = forbidden


def test_a_server_path_inside_the_allowed_folders_loads(home: Path, allowed: Path) -> None:
    for text in (str(allowed / "good.tsv"), "good.tsv", str(allowed / "sub" / ".." / "good.tsv")):
        at = server_path(app().run(), text)
        assert not texts(at, "error") and not at.button(key="start").disabled, texts(at, "error")
        assert any(t.startswith("good.tsv: 40 users") for t in texts(at, "caption")), texts(at, "caption")


def test_a_folder_whose_files_link_outside_is_refused(home: Path, allowed: Path, outside: Path) -> None:
    folder = allowed / "lgcn"
    folder.mkdir()
    (folder / "train.txt").symlink_to(outside)
    (folder / "test.txt").write_text("0 1\n")
    at = server_path(app().run(), str(folder))
    assert texts(at, "error") and "hunter2" not in on_screen(at)


def test_leading_blank_lines_and_reader_slips_are_shown_never_a_crash(
    home: Path, allowed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (allowed / "blank.tsv").write_text("\n\n\n" + interactions())
    at = server_path(app().run(), "blank.tsv")  # read, or refused with a message: never an exception
    assert texts(at, "error") or any(t.startswith("blank.tsv:") for t in texts(at, "caption"))

    def slip(self: DataSpec) -> None:
        raise IndexError("list index out of range")  # any bug in a reader

    monkeypatch.setattr(DataSpec, "load", slip)
    at = server_path(app().run(), "good.tsv")
    assert texts(at, "error") == ["Cannot use this dataset: good.tsv: cannot read this file"], texts(at, "error")


HOSTILE_NAMES = [
    "a" * 300 + ".data", "données-été.csv", "../../etc/passwd", "a\x00b.txt", "...", "..", ".", "CON", "nul.txt",
    "<img src=x onerror=alert(1)>.txt", "![x](http://evil.example/a.png).tsv", "日本語" * 90 + ".txt.gz",
    "-rf", " ", "a/b\\c.txt", "x." + "y" * 300,
]  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_any_upload_name_is_stored_safely(home: Path, name: str) -> None:
    from dashboard import settings

    data = interactions().encode()
    path = settings.save_upload(name, gzip.compress(data) if name.endswith(".gz") else data)
    assert path.parent.parent == home / "uploads" and path.is_file()
    assert len(path.name.encode()) <= 100 and not path.name.startswith(".") and "\x00" not in path.name
    assert not set(path.name) & set("/\\<>()[]! ") and path.read_bytes()


def test_a_300_character_upload_name_loads_in_the_page(home: Path) -> None:
    at = app().run()
    at.radio(key="data_source").set_value("upload a file").run()
    at.file_uploader(key="upload").upload("b" * 300 + ".tsv", interactions().encode()).run()
    no_exceptions(at)
    assert not texts(at, "error") and not at.button(key="start").disabled, texts(at, "error")
    assert str(home) not in on_screen(at)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n\n\n",
        gzip.compress(b"0 1\n" * 10, mtime=0) + b"garbage",
        b"\x00\x01\x02" * 100,
        b"\xef\xbb\xbf" + b"\n",
    ],
    ids=["empty", "blank-lines", "broken-gzip", "binary", "bom-only"],
)
def test_a_bad_upload_is_an_error_in_the_sidebar(home: Path, content: bytes) -> None:
    at = app().run()
    at.radio(key="data_source").set_value("upload a file").run()
    at.file_uploader(key="upload").upload("bad.txt.gz" if content[:2] == b"\x1f\x8b" else "bad.txt", content).run()
    no_exceptions(at)
    assert texts(at, "error") and at.button(key="start").disabled
    assert str(home) not in on_screen(at)


def test_an_upload_shows_its_name_only_on_every_page(home: Path) -> None:
    """The Frontier page's sweep caption, the Live, Runs and Backbones pages: the upload's name,
    never where the server keeps it (``$BET_HOME/uploads/<hash>/``)."""
    from dashboard import settings

    path = settings.save_upload("u.data", interactions().encode())
    store = RunStore(home / "bet.sqlite")
    rid = store.create_run(kind="search", method="bet", dataset="u.data", backbone="lightgcn", sparsity=0.9, seed=0,
                           config=tiny_config(data=DataSpec(str(path))).to_dict(), iterations=2)  # fmt: skip
    store.update_run(rid, status="failed", phase="failed", error=f"DataError: {path}:2: broken")
    for name in ("frontier", "compare", "runs", "live"):
        at = AppTest.from_function(page_script, args=(str(ROOT), name), default_timeout=TIMEOUT)
        at.query_params["run"] = rid
        at.run()
        at.radio(key="data_source").set_value("upload a file").run()
        at.file_uploader(key="upload").upload("u.data", interactions().encode()).run()
        no_exceptions(at)
        shown = on_screen(at)
        assert "u.data" in shown and str(home) not in shown and "uploads" not in shown, (name, shown)
        if name == "frontier":
            assert "On **u.data** with the sidebar's settings" in shown, shown


def page_script(root: str, name: str) -> None:
    import sys

    sys.path.insert(0, root)
    from dashboard.views import backbones, frontier, live, runs, setup

    setup.sidebar()
    {"live": live.page, "frontier": frontier.page, "compare": backbones.page, "runs": runs.page}[name]()


def test_the_candidate_pool_is_checked_against_memory_before_start(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 candidates of gowalla-mini's 6,835 rows: two pools of ~5.5 GB; training alone ~28 MB."""
    monkeypatch.setenv("BET_MEMORY_MB", "2000")
    at = app().run()
    no_exceptions(at)
    assert not at.button(key="start").disabled
    at.number_input(key="candidates").set_value(10000).run()
    errors = texts(at, "error")
    assert any("Too big for this server" in e and "candidate pools" in e and "m = 10,000" in e for e in errors), errors
    assert at.button(key="start").disabled
    at.number_input(key="candidates").set_value(100).run()
    assert not texts(at, "error") and not at.button(key="start").disabled


def test_names_and_errors_from_the_store_render_as_text(home: Path) -> None:
    """A run recorded by another tool on a file named like markdown, with an error quoting it: the
    pages show the characters, never a link, an image (a request to another host) or a formula."""
    evil = "![x](http://evil.example/a.png)"
    store = RunStore(home / "bet.sqlite")
    rid = store.create_run(kind="search", method="bet", dataset=evil, backbone="lightgcn", sparsity=0.9, seed=0,
                           config=tiny_config().to_dict(), iterations=2)  # fmt: skip
    store.update_run(rid, status="failed", phase="failed", error=f"DataError: line 2: user id '{evil} $x^2$'")
    at = app().run()
    no_exceptions(at)
    for text in texts(at, "subheader", "caption", "error", "warning", "markdown"):
        assert "](" not in text.replace("\\]\\(", ""), text  # every ! [ ] ( ) escaped
        assert "$x" not in text.replace("\\$x", ""), text
    assert any("\\!\\[x\\]" in t for t in texts(at, "subheader"))


def test_a_gzip_bomb_upload_is_refused_at_the_inflation_cap(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BET_MAX_DECOMPRESSED_MB", "1")
    bomb = gzip.compress(b"1 2\n" * (5 * 2**20))  # 20 MB of lines in ~20 KB
    at = app().run()
    at.radio(key="data_source").set_value("upload a file").run()
    at.file_uploader(key="upload").upload("bomb.txt.gz", bomb).run()
    no_exceptions(at)
    assert any("BET\\_MAX\\_DECOMPRESSED\\_MB" in e for e in texts(at, "error")), texts(at, "error")
    assert at.button(key="start").disabled and str(home) not in on_screen(at)


def test_a_very_long_server_path_is_refused_like_any_other(home: Path, allowed: Path) -> None:
    at = server_path(app().run(), "a/" * 3000 + "x")
    assert len(texts(at, "error")) == 1 and "BET\\_DATA\\_DIRS" in texts(at, "error")[0]


@pytest.mark.parametrize("run", ["<img src=x onerror=alert(1)>", "../../etc/passwd", "x" * 5000, "' OR 1=1 --"])
def test_query_string_tricks_select_no_run_and_break_nothing(home: Path, run: str) -> None:
    from dashboard_helpers import add_run

    from bet.data import load_dataset

    rid = add_run(RunStore(home / "bet.sqlite"), load_dataset("gowalla-mini"), valid=0.2, test=0.2, created_at=1e9)
    for name in ("live", "runs", "compare", "frontier"):
        at = AppTest.from_function(page_script, args=(str(ROOT), name), default_timeout=TIMEOUT)
        at.query_params["run"] = run
        at.run()
        no_exceptions(at)
        assert run not in on_screen(at)
    assert rid in on_screen(page_live(rid))


def page_live(rid: str) -> AppTest:
    at = AppTest.from_function(page_script, args=(str(ROOT), "live"), default_timeout=TIMEOUT)
    at.query_params["run"] = rid
    return at.run()


def test_bad_numbers_in_the_dashboards_environment_fall_back_to_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import datasets, env, housekeeping, runner

    for name, value in (("BET_DASHBOARD_DATASETS", "four"), ("BET_DASHBOARD_WORKERS", "-3"),
                        ("BET_UPLOAD_DAYS", "nan"), ("BET_DASHBOARD_POLL", "1e999")):  # fmt: skip
        monkeypatch.setenv(name, value)
    assert datasets.default_limit() == 4 and runner.default_workers() == 1 and housekeeping.upload_days() == 7
    assert env.number("BET_DASHBOARD_POLL", 1.5, low=0.1, high=3600) == 1.5
    monkeypatch.setenv("BET_DASHBOARD_WORKERS", "2")
    assert runner.default_workers() == 2


def test_two_sessions_resuming_one_run_queue_it_once(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both press Resume at once (the engine's claim is slowed here so the two overlap): the run is
    queued once and the other session is told it is taken."""
    import threading

    from bet import runs as runs_mod  # the dashboard resumes through bet.runs.prepare_resume
    from dashboard.runner import Runner

    real = runs_mod.resume_job

    def slow(store: RunStore, run_id: str):  # type: ignore[no-untyped-def]
        job = real(store, run_id)
        time.sleep(0.5)
        return job

    monkeypatch.setattr(runs_mod, "resume_job", slow)
    store = RunStore(home / "bet.sqlite")
    run = Runner(store, processes=False)
    try:
        run.submit([tiny_config()])  # occupies the one worker for a few seconds
        rid = store.create_run(kind="search", method="bet", dataset="gowalla-mini", backbone="lightgcn",
                               sparsity=0.9, seed=0, config=tiny_config().to_dict(), iterations=2)  # fmt: skip
        store.update_run(rid, status="stopped", phase="stopped")
        outcomes: list[str] = []

        def press() -> None:  # single-user mode: every session may resume every run
            try:
                outcomes.append(run.resume(rid))
            except StoreError as exc:
                outcomes.append(str(exc))

        threads = [threading.Thread(target=press) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        refused = [o for o in outcomes if o != rid]
        assert outcomes.count(rid) == 1 and len(refused) == 1 and "already" in refused[0], outcomes
        assert run.queued().count(rid) == 1
    finally:
        run.shutdown()


def test_the_frontier_hover_shows_names_as_text(home: Path) -> None:
    from dashboard_helpers import fill_store

    from bet.data import load_dataset
    from dashboard import frontier_chart, queries

    store = RunStore(home / "bet.sqlite")
    fill_store(store, load_dataset("gowalla-mini"))
    evil = '<a href="http://evil.example">x</a>'
    rows = [dataclasses.replace(r, dataset=evil) for r in store.list_runs()]  # as recorded by another tool
    fig = frontier_chart.frontier_figure(queries.frontier_points(rows, "recall@20"))
    hovers = " ".join(str(t.hovertext) for t in fig.data)
    assert "&lt;a href" in hovers and "<a href" not in hovers, hovers


@pytest.mark.parametrize("processes", [False, True], ids=["in-thread", "worker-process"])
def test_a_server_stop_interrupts_the_running_search_and_starts_nothing(home: Path, processes: bool) -> None:
    """What the server does at exit (``atexit``: :meth:`Runner.interrupt_all`), in both run modes;
    tests/test_browser_hostile.py SIGTERMs a real server."""
    from dashboard.runner import Runner

    store = RunStore(home / "bet.sqlite")
    run = Runner(store, processes=processes)
    first, second = run.submit([tiny_config(iterations=50), tiny_config(seed=1)])
    deadline = time.monotonic() + 120
    while not store.actions(first):  # the search has evaluated an action
        assert time.monotonic() < deadline, store.get_run(first)
        time.sleep(0.2)
    assert sorted(run.interrupt_all()) == sorted([first, second])
    time.sleep(1.0)  # nothing that ran on may overwrite it
    got = {r.run_id: r for r in store.list_runs()}
    assert got[first].status == "interrupted" and "server stopped" in got[first].error, got[first]
    assert got[second].status == "interrupted" and got[second].started_at is None, got[second]
    assert run.idle() and run.interrupt_all() == []
    with pytest.raises(RuntimeError):
        run.submit([tiny_config()])  # nothing new starts


def test_resuming_a_run_whose_upload_was_deleted_says_so_by_name(home: Path) -> None:
    import shutil

    from dashboard import settings

    path = settings.save_upload("u.data", interactions().encode())
    store = RunStore(home / "bet.sqlite")
    rid = store.create_run(kind="search", method="bet", dataset="u.data", backbone="lightgcn", sparsity=0.9, seed=0,
                           config=tiny_config(data=DataSpec(str(path))).to_dict(), iterations=2)  # fmt: skip
    store.update_run(rid, status="interrupted", phase="interrupted", error="the dashboard server stopped")
    shutil.rmtree(path.parent)
    at = page_live(rid)
    no_exceptions(at)
    assert any(rid in t for t in texts(at, "info"))  # listed as resumable
    at.button(key="resume_run").click().run()
    no_exceptions(at)
    shown = on_screen(at)
    assert "u.data" in shown and str(home) not in shown, shown
    assert store.get_run(rid).status == "interrupted"


def test_upload_storage_failing_and_markup_in_text_fields_are_errors(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import settings

    def full_disk(name: str, data: bytes) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(settings, "save_upload", full_disk)
    at = app().run()
    at.radio(key="data_source").set_value("upload a file").run()
    at.file_uploader(key="upload").upload("u.data", interactions().encode()).run()
    no_exceptions(at)
    assert texts(at, "error") == ["Cannot keep this upload on the server (No space left on device)."]
    at = app().run()
    at.text_input(key="min_rating").input("![x](http://evil.example/a.png)").run()
    no_exceptions(at)
    assert texts(at, "error") and all("](" not in e for e in texts(at, "error")), texts(at, "error")


def test_an_interrupted_runs_upload_outlives_the_start_up_cleaning(home: Path) -> None:
    """A server stopped for longer than BET_UPLOAD_DAYS: its interrupted runs stay resumable."""
    from dashboard import settings
    from dashboard.runner import Runner

    store = RunStore(home / "bet.sqlite")
    kept, gone = settings.save_upload("kept.data", interactions().encode()), settings.save_upload("old.data", b"1 2\n")
    for path, status in ((kept, "interrupted"), (gone, "completed")):
        rid = store.create_run(kind="search", method="bet", dataset=path.name, backbone="lightgcn", sparsity=0.9,
                               seed=0, config=tiny_config(data=DataSpec(str(path))).to_dict(), iterations=2)  # fmt: skip
        store.update_run(rid, status=status)
        os.utime(path, (time.time() - 30 * 86400,) * 2)
    Runner(store, processes=False).shutdown()
    assert kept.exists() and not gone.exists()


def test_messages_name_the_servers_bet_home_as_bet_home(home: Path) -> None:
    from dashboard import settings

    home.mkdir(parents=True, exist_ok=True)
    text = settings.redact(f"no run 'x' in {home}/bet.sqlite; cache {home}/models/ab.pt")
    assert text == "no run 'x' in $BET_HOME/bet.sqlite; cache $BET_HOME/models/ab.pt", text
    at = page_live("no-such-run")  # the store has no runs: the welcome page, no path anywhere
    no_exceptions(at)
    assert str(home) not in on_screen(at)
