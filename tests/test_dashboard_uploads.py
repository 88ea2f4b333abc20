"""Uploads in the dashboard as a hostile or careless user makes them (issue 20), through
streamlit's AppTest: any name stored safely and shown by its name only (never where the server
keeps it), bad content and gzip bombs refused in the sidebar, a full disk said plainly, and an
interrupted run's upload kept, or missed by name, when it is resumed."""

from __future__ import annotations

import gzip
import os
import shutil
import time
from pathlib import Path

import pytest
from apptest_helpers import (
    TIMEOUT,
    app,
    home,
    interactions,
    no_exceptions,
    on_screen,
    page_live,
    page_script,
    texts,
)
from dashboard_helpers import ROOT, tiny_config
from streamlit.testing.v1 import AppTest

from bet.config import DataSpec
from bet.store import RunStore

__all__ = ["home"]  # a fixture used by name


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


def test_a_gzip_bomb_upload_is_refused_at_the_inflation_cap(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BET_MAX_DECOMPRESSED_MB", "1")
    bomb = gzip.compress(b"1 2\n" * (5 * 2**20))  # 20 MB of lines in ~20 KB
    at = app().run()
    at.radio(key="data_source").set_value("upload a file").run()
    at.file_uploader(key="upload").upload("bomb.txt.gz", bomb).run()
    no_exceptions(at)
    assert any("BET\\_MAX\\_DECOMPRESSED\\_MB" in e for e in texts(at, "error")), texts(at, "error")
    assert at.button(key="start").disabled and str(home) not in on_screen(at)


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


def test_resuming_a_run_whose_upload_was_deleted_says_so_by_name(home: Path) -> None:

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
