"""The setup's duration estimate before Start, through streamlit's AppTest (issues 9 §5, 23 §1):
per phase, a warning when long, what a run started now on a busy machine would take, and a caption
when the measurement itself was taken beside other work."""

from __future__ import annotations

from pathlib import Path

import pytest
from apptest_helpers import app, home, no_exceptions, texts

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
