"""Hostile and mistaken uses of the dashboard (issue 20), through streamlit's AppTest: server
paths only inside ``BET_DATA_DIRS`` and never in multi-user mode, one message for missing and
forbidden paths, no file content and no server folder on screen, a reader's error shown (never a
crashed session). Uploads: tests/test_dashboard_uploads.py; runs and the store:
tests/test_dashboard_hostile_runs.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from apptest_helpers import (
    allowed,
    app,
    home,
    interactions,
    no_exceptions,
    on_screen,
    outside,
    server_path,
    texts,
)

from bet.config import DataSpec

__all__ = ["allowed", "home", "outside"]  # fixtures used by name


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


def test_a_very_long_server_path_is_refused_like_any_other(home: Path, allowed: Path) -> None:
    at = server_path(app().run(), "a/" * 3000 + "x")
    assert len(texts(at, "error")) == 1 and "BET\\_DATA\\_DIRS" in texts(at, "error")[0]


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
