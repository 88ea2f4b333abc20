"""A recorded study in the dashboard, through streamlit's AppTest: opened in one click beside the
live demo, every page reads it, nothing can be started from it, one click returns to the live store.
The study is a small one built here (bench/make_study.py over a store of hand-made runs)."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import pytest
from dashboard_helpers import APP, ROOT, add_run, fill_store
from streamlit.testing.v1 import AppTest

from bet.data import load_dataset
from bet.paper import table_row
from bet.store import RunStore
from dashboard.study import READ_ONLY

sys.path.insert(0, str(ROOT / "bench"))
import make_study

TIMEOUT = 60


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("studies")
    store = RunStore(folder / "source.sqlite")
    ids = fill_store(store, load_dataset("gowalla-mini"))
    rows = [table_row(store, store.get_run(ids[m]), method=m, device="cpu") for m in ("bet", "su")]
    store.close()
    with (folder / "table.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = folder / "shipped" / "mini.sqlite"
    args = ["--source", str(folder / "source.sqlite"), "--table", str(folder / "table.csv"), "--out", str(out),
            "--title", "Recorded study: mini", "--where", "a test machine"]  # fmt: skip
    assert make_study.main(args) == 0
    return out.parent, ids


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studies: tuple[Path, dict[str, str]]) -> dict[str, str]:
    monkeypatch.setenv("BET_HOME", str(tmp_path))  # an empty live store
    monkeypatch.setenv("BET_STUDIES_DIR", str(studies[0]))
    return studies[1]


def markdown(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in at.markdown)


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def estimated(at: AppTest) -> list[str]:
    return [str(e.value) for e in (*at.caption, *at.warning) if str(e.value).startswith("Estimated")]


def test_one_click_opens_the_study_beside_the_demo_and_one_click_returns(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import settings

    timed: list[object] = []
    real = settings.estimate
    monkeypatch.setattr(settings, "estimate", lambda *a, **kw: timed.append(a) or real(*a, **kw))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    no_exceptions(at)
    assert at.button(key="demo").label == "Run the demo" and "Recorded study: mini" in markdown(at)
    assert estimated(at) and timed  # the live store: the configured run's duration
    timed.clear()
    at.button(key="study-open-mini").click().run()
    no_exceptions(at)
    # a study starts nothing: no estimate of a run it cannot start, and no training steps timed for
    # one (the first timing of a fresh machine held a study's page greyed for ~10 s in a browser)
    assert not estimated(at) and not timed
    text = markdown(at)
    assert "**Recorded study: mini** · read-only" in text and "a test machine" in text
    assert "BET keeps 92% of the full model's recall@20; uniform sizes keep 82%" in text  # the story sentence
    assert at.query_params["run"] == env["bet"]  # on the study's headline run
    assert at.button(key="start").disabled and READ_ONLY in [str(c.value) for c in at.sidebar.caption]
    assert not [b for b in at.button if b.key in ("stop_run", "resume_run", "demo")]
    assert any("reproduce" in str(c.value) for c in at.code) or at.expander  # the commands, folded
    at.button(key="study-leave").click().run()
    no_exceptions(at)
    assert at.button(key="demo").label == "Run the demo" and "· read-only ·" not in markdown(at)
    assert not at.button(key="start").disabled and estimated(at)


def page_script(root: str, name: str) -> None:
    import sys

    sys.path.insert(0, root)
    from dashboard.views import backbones, frontier, live, runs, setup, study, why_recall

    setup.sidebar()
    study.banner()
    {"live": live.page, "frontier": frontier.page, "compare": backbones.page, "why": why_recall.page,
     "runs": runs.page}[name]()  # fmt: skip


@pytest.mark.parametrize("name", ["frontier", "compare", "why", "runs", "live"])
def test_every_page_reads_the_study_and_starts_nothing(env: dict[str, str], name: str) -> None:
    at = AppTest.from_function(page_script, args=(str(ROOT), name), default_timeout=TIMEOUT)
    at.session_state["_study"] = "mini"
    at.run()
    no_exceptions(at)
    assert "**Recorded study: mini** · read-only" in markdown(at)
    assert at.button(key="start").disabled
    changing = {"demo", "stop_run", "resume_run", "runs_stop", "runs_resume", "stop_running", "cancel_queued"}
    assert not [b.key for b in at.button if b.key in changing]
    if name == "frontier":
        assert READ_ONLY in [str(i.value) for i in at.info]  # no sweep from a study
        assert "completed runs on the frontier" in " ".join(str(c.value) for c in at.caption)
    if name == "compare":
        assert next(b for b in at.button if b.key == "cmp_missing").disabled
    if name == "runs":
        assert "of 4 runs" in " ".join(str(c.value) for c in at.caption)  # the study's runs, not the live store's
    if name == "why":
        assert at.selectbox(key="why_run").value == env["bet"]


def test_a_finished_demo_story_offers_the_real_size_one(env: dict[str, str], tmp_path: Path) -> None:
    """Under the live mini demo's story: one click to the recorded real-size story."""
    data = load_dataset("gowalla-mini")
    live = RunStore(tmp_path / "bet.sqlite")
    for method, valid, test in (("full", 0.24, 0.25), ("su", 0.2, 0.2), ("bet", 0.21, 0.21)):
        add_run(live, data, method, valid=valid, test=test, created_at=time.time() - 60, comparison_id="demo-1")
    live.close()
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    no_exceptions(at)
    assert "BET keeps 84% of the full model's recall@20; uniform sizes keep 80%" in markdown(at)  # the mini story
    at.button(key="study-story-mini").click().run()
    no_exceptions(at)
    assert "**Recorded study: mini** · read-only" in markdown(at) and "BET keeps 92%" in markdown(at)
