"""The setup form's presets (plain Python, no streamlit): the engine's ``fast`` and ``paper``
(:mod:`bet.presets`) and the dashboard's own *demo* and *smoke test*; the values each puts in the
form's fields, the engine preset behind each (what the form's fields do not show: fitness on a user
sample, warm-started retraining…), which one a dataset starts from, and the words that say which
preset is in force and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bet import FAST_ABOVE_ROWS, PRESETS, default_preset, preset_settings
from dashboard.settings import DEMO

#: The form's fields a preset fills (0: "auto" for the finetune length).
FIELDS = (
    "iterations",
    "candidates",
    "finetune_epochs",
    "finetune_steps",
    "retrain_top",
    "pretrain_epochs",
    "retrain_epochs",
)
DEMO_NAME, SMOKE_NAME = "demo (about a minute)", "smoke test (seconds)"


def _fields(values: Mapping[str, Any]) -> dict[str, int]:
    """An engine preset's values (:func:`bet.preset_settings`) as the form's fields."""
    return {
        "iterations": values["iterations"],
        "candidates": values["candidates"],
        "finetune_epochs": values["finetune_epochs"] or 0,
        "finetune_steps": values["finetune_steps"] or 0,
        "retrain_top": values["retrain_top"],
        "pretrain_epochs": values["pretrain"].epochs,
        "retrain_epochs": values["retrain"].epochs,
    }


#: Preset name → the form's fields it fills. The engine's presets come first.
FORM: dict[str, dict[str, int]] = {
    "fast": _fields(preset_settings("fast")),
    "paper": _fields(preset_settings("paper")),
    DEMO_NAME: {
        "iterations": DEMO.iterations,
        "candidates": DEMO.candidates,
        "finetune_epochs": 0,
        "finetune_steps": DEMO.finetune_steps or 0,
        "retrain_top": DEMO.retrain_top,
        "pretrain_epochs": DEMO.pretrain.epochs,
        "retrain_epochs": DEMO.retrain.epochs,
    },
    SMOKE_NAME: {
        "iterations": 2,
        "candidates": 10,
        "finetune_epochs": 0,
        "finetune_steps": 10,
        "retrain_top": 1,
        "pretrain_epochs": 4,
        "retrain_epochs": 4,
    },
}
#: Preset name → the engine preset whose other settings the built config carries.
ENGINE = {"fast": "fast", "paper": "paper", DEMO_NAME: "paper", SMOKE_NAME: "paper"}
SUMMARY = {
    "fast": PRESETS["fast"].summary,
    "paper": PRESETS["paper"].summary,
    DEMO_NAME: (
        f"the paper's method, shortened to {DEMO.iterations} iterations and the top {DEMO.retrain_top} "
        "retrained: the live demo's search"
    ),
    SMOKE_NAME: "2 iterations of 10 candidates, 10-step finetunes: for trying the app, not for results",
}


def default_for(n_rows: int) -> str:
    """The preset a dataset of ``n_rows`` rows (users + items) starts from."""
    return default_preset(n_rows)


def edited(name: str, values: Mapping[str, Any]) -> list[str]:
    """The form's fields whose value differs from what preset ``name`` put there."""
    return [k for k in FIELDS if k in values and int(values[k]) != FORM[name][k]]


def title(name: str, changed: bool) -> str:
    """The advanced settings' title: the preset in force (``changed``: some field edited since)."""
    return f"Advanced settings ({name} preset{', edited' if changed else ''})"


def readout(name: str, n_rows: int, *, dataset: str, picked: bool, changed: bool) -> str:
    """Which preset is in force and why, in a sentence for the sidebar (markdown: ``dataset``
    must already be escaped). ``picked``: the user chose it; ``changed``: a field was edited since
    (either way it no longer follows the dataset's default)."""
    default = default_for(n_rows)
    rule = f"{'above' if default == 'fast' else 'up to'} {FAST_ABOVE_ROWS:,} rows ({dataset} has {n_rows:,})"
    if picked:
        why = f"chosen by hand; **{default}** is the default {rule}"
    elif name != default:
        why = f"kept because you edited its settings; **{default}** is the default {rule}"
    else:
        why = f"the default {rule}"
    text = f"Preset **{name}** — {why}: {SUMMARY[name]}."
    if changed:
        text += " Your edits to the advanced settings win over the preset's values."
    return text
