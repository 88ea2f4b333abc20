"""The setup's duration estimate before Start, through streamlit's AppTest (issues 9 §5, 23 §1):
per phase, a warning when long, what a run started now on a busy machine would take, and a caption
when the measurement itself was taken beside other work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from apptest_helpers import app, home, no_exceptions, texts
from dashboard_helpers import tiny_config

from bet import threads
from bet.data import Dataset
from bet.timings import cached_for

__all__ = ["home"]  # a fixture used by name


def test_setup_shows_the_estimated_duration_and_warns_when_long(home: Path) -> None:
    """Issue 9 §5: before Start, the configured run's duration on this machine, per phase."""
    at = app().run()
    no_exceptions(at)
    shown = [t for t in texts(at, "caption") + texts(at, "warning") if t.startswith("Estimated")]
    assert len(shown) == 1 and "finetune" in shown[0] and "retrain" in shown[0], shown
    # the paper's 50 × 100-step finetunes on gowalla-mini are minutes; 5,000 iterations are hours
    at.number_input(key="iterations").set_value(1000).run()
    warnings = [t for t in texts(at, "warning") if t.startswith("Estimated")]
    assert warnings and "over 10 minutes" in warnings[0], texts(at, "warning")


def test_setup_says_how_much_longer_a_busy_machine_takes(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimate is for the machine alone; beside other work it also says what a run started
    now would take (the load average, bet.load)."""
    import dashboard.views.duration as duration

    monkeypatch.setattr(duration, "load_average", lambda: 5.0)
    monkeypatch.setattr(duration, "started_now", lambda load: 3.0)
    at = app().run()
    no_exceptions(at)
    (shown,) = [t for t in texts(at, "caption") + texts(at, "warning") if t.startswith("Estimated")]
    assert "on this machine alone" in shown and "if started now" in shown and "(load 5.0 on" in shown, shown
    monkeypatch.setattr(duration, "started_now", lambda load: 1.0)
    (quiet,) = [t for t in texts(at.run(), "caption") + texts(at, "warning") if t.startswith("Estimated")]
    assert "if started now" not in quiet


def test_setup_says_an_estimate_timed_beside_other_work_is_rough(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A measurement taken while other work held the CPUs is scaled to the machine alone; the
    caption says it is rough and will be timed again (docs/results.md §9)."""
    from dashboard import settings

    monkeypatch.setattr(settings, "measured_busy", lambda cfg, backbones, data: True)
    at = app().run()
    no_exceptions(at)
    (shown,) = [t for t in texts(at, "caption") + texts(at, "warning") if t.startswith("Estimated")]
    assert "timed while other work held the CPUs" in shown and "timed again once the machine is idle" in shown
    monkeypatch.setattr(settings, "measured_busy", lambda cfg, backbones, data: False)
    (plain,) = [t for t in texts(at.run(), "caption") + texts(at, "warning") if t.startswith("Estimated")]
    assert "timed while other work" not in plain


def test_a_first_measurement_says_its_stages_and_a_rerun_interrupts_it(home: Path, mini: Dataset) -> None:
    """The first estimate on a machine times training steps (seconds; a minute on a busy one). The
    page hears each stage — a streamlit call after every timed step, where a click's rerun stops
    the script instead of waiting for the measurement — and an interrupted measurement is not
    cached: the next estimate measures whole. Cached timings are read without a stage."""
    from dashboard import forecast

    cfg = tiny_config(sparsity=0.9)
    device = torch.device("cpu")

    def rerun(done: int, total: int, what: str) -> None:
        if done == 2:
            raise RuntimeError("a click: streamlit's rerun request")

    with pytest.raises(RuntimeError, match="rerun request"):
        forecast.estimate(cfg, ["lightgcn"], mini, progress=lambda backbone: rerun)
    assert cached_for(mini.fingerprint, "lightgcn", device) is None and threads._active == 0
    heard: list[tuple[str, int, int, str]] = []

    def hear(backbone: str) -> Callable[[int, int, str], None]:
        return lambda *stage: heard.append((backbone, *stage))

    phases = forecast.estimate(cfg, ["lightgcn"], mini, progress=hear)
    assert phases["finetune"] > 0 and cached_for(mini.fingerprint, "lightgcn", device) is not None
    assert heard[0][:2] == ("lightgcn", 0) and heard[-1][1:] == (heard[-1][2], heard[-1][2], "done")
    assert [d for _, d, _, _ in heard] == sorted(d for _, d, _, _ in heard)  # stages in order
    heard.clear()
    assert forecast.estimate(cfg, ["lightgcn"], mini, progress=hear) == phases
    assert heard == []  # cached: nothing to time


def test_the_page_clears_its_timing_line_once_the_estimate_is_drawn(home: Path) -> None:
    at = app().run()
    no_exceptions(at)
    shown = [str(c.value) for c in at.sidebar.caption]
    assert any(t.startswith("Estimated") for t in shown) and not any(t.startswith("Timing") for t in shown), shown
