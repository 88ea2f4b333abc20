"""The dashboard driven through streamlit's AppTest as a user, careless or hostile, would drive it:
the throwaway ``BET_HOME``, the app and single pages, what is on screen, and a small interaction
file. Shared by the AppTest files (tests/test_dashboard_hostile*.py, uploads, estimate)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from dashboard_helpers import APP, ROOT
from streamlit.testing.v1 import AppTest

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


def page_script(root: str, name: str) -> None:
    import sys

    sys.path.insert(0, root)
    from dashboard.views import backbones, frontier, live, runs, setup, why_recall

    setup.sidebar()
    pages = {"live": live.page, "frontier": frontier.page, "compare": backbones.page, "why": why_recall.page}
    {**pages, "runs": runs.page}[name]()


def page_live(rid: str) -> AppTest:
    at = AppTest.from_function(page_script, args=(str(ROOT), "live"), default_timeout=TIMEOUT)
    at.query_params["run"] = rid
    return at.run()
