"""What the setup form decides, without streamlit: the budget readout, the demo settings, the
config built from the form, uploaded files saved where a run's config can find them again."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bet import (
    BaselineConfig,
    Dataset,
    DataSpec,
    SearchConfig,
    bet_home,
    check_memory,
    measure,
    plan,
    preset_settings,
    resolve_device,
    run_budget,
)
from bet import memory_needs as engine_memory_needs
from bet.report import packed_mb
from dashboard.paths import md, upload_name

BACKBONE_CHOICES = ("lightgcn", "ngcf", "ncf")
DEVICES = ("auto", "cpu", "cuda")
PAPER = SearchConfig()  # the paper's defaults, shown in the form

#: The live search of the one-click demo: gowalla-mini, LightGCN, sparsity 0.9, 12 iterations of 100
#: candidates with the default 100-step finetunes (24 s from the CLI on the idle 2-core VM, after the
#: ~6 s first-time pretraining). The rest of the demo (the references, BET at other budgets):
#: :func:`dashboard.story.demo_configs`.
DEMO = dataclasses.replace(
    PAPER,
    data=DataSpec("gowalla-mini"),
    sparsity=0.9,
    iterations=12,
    candidates=100,
    retrain_top=2,
    retrain=dataclasses.replace(PAPER.retrain, epochs=30),
)
if os.environ.get("BET_DEMO") == "smoke":  # the browser test: the same demo in seconds, not minutes
    DEMO = dataclasses.replace(
        DEMO,
        iterations=2,
        candidates=10,
        finetune_steps=10,
        retrain_top=1,
        pretrain=dataclasses.replace(PAPER.pretrain, epochs=4),
        retrain=dataclasses.replace(PAPER.retrain, epochs=4),
    )


@dataclass(frozen=True)
class Readout:
    """What a sparsity buys on a dataset, for the live readout next to the slider."""

    sparsity: float
    n_rows: int
    d_max: int
    budget: int  # parameters kept

    @property
    def full_params(self) -> int:
        return self.n_rows * self.d_max

    @property
    def kept_fraction(self) -> float:
        return self.budget / self.full_params

    @property
    def packed_mb(self) -> float:
        """The packed table: float32 values + one byte per row for its size (uint8)."""
        return packed_mb(self.budget, self.n_rows, self.d_max)

    @property
    def full_mb(self) -> float:
        return self.full_params * 4 / 1e6

    @property
    def avg_dim(self) -> float:
        return self.budget / self.n_rows

    def text(self) -> str:
        return (
            f"keeps **{self.budget:,}** of {self.full_params:,} parameters ({self.kept_fraction:.1%}) · "
            f"**{self.packed_mb:.2f} MB** packed vs {self.full_mb:.2f} MB full (float32) · "
            f"average **{self.avg_dim:.1f}** of {self.d_max} dimensions per row"
        )


def readout(cfg: SearchConfig, data: Dataset, backbones: Sequence[str] = ()) -> Readout:
    """What the form's config buys on ``data``: its run's budget (:func:`bet.run_budget`, as the
    run will have it). Raises :class:`~bet.errors.BudgetError` (its message says why) when
    infeasible, for the table or for ``cfg``'s backbone or one of ``backbones`` (NCF keeps two
    embeddings per row)."""
    budget = run_budget(cfg, data)
    for backbone in backbones:
        run_budget(dataclasses.replace(cfg, backbone=backbone), data)  # feasible on each backbone?
    return Readout(cfg.sparsity, data.n_rows, cfg.d_max, budget)


def build_config(
    data: DataSpec,
    backbone: str,
    sparsity: float,
    *,
    iterations: int = PAPER.iterations,
    candidates: int = PAPER.candidates,
    finetune_epochs: int | None = None,
    finetune_steps: int | None = None,
    retrain_top: int = PAPER.retrain_top,
    seed: int = 0,
    device: str = "auto",
    d_max: int = PAPER.d_max,
    pretrain_epochs: int = PAPER.pretrain.epochs,
    retrain_epochs: int = PAPER.retrain.epochs,
    selection: str = PAPER.selection,
    predictor: str = PAPER.predictor,
    preset: str = PAPER.preset,
) -> SearchConfig:
    """The frozen config of the form (validated: raises :class:`~bet.errors.ConfigError`). The
    engine ``preset`` (:func:`bet.preset_settings`) gives what the form does not show — fitness on a
    user sample, where retraining starts, the retraining's validation users — and the label; the
    form's values (which the preset filled, and the user may have edited) win for everything else."""
    values = preset_settings(preset)
    return SearchConfig(
        data=data,
        backbone=backbone,
        sparsity=round(float(sparsity), 4),
        iterations=int(iterations),
        candidates=int(candidates),
        finetune_epochs=finetune_epochs or None,
        finetune_steps=finetune_steps or None,
        retrain_top=int(retrain_top),
        selection=selection,
        predictor=predictor,
        seed=int(seed),
        device=device,
        d_max=int(d_max),
        pretrain=dataclasses.replace(values["pretrain"], epochs=int(pretrain_epochs)),
        retrain=dataclasses.replace(values["retrain"], epochs=int(retrain_epochs)),
        preset=preset,
        fitness_users=values["fitness_users"],
        retrain_from=values["retrain_from"],
    ).validate()


def parse_sparsities(text: str) -> list[float]:
    """``"0.8, 0.9 0.95"`` → ``[0.8, 0.9, 0.95]`` (sorted, unique); ValueError names a bad entry."""
    out = set()
    for tok in re.split(r"[,\s;]+", text.strip()):
        if not tok:
            continue
        try:
            c = float(tok)
        except ValueError:
            raise ValueError(f"{tok!r} is not a number; give sparsities like 0.8, 0.9, 0.95") from None
        if not 0 < c < 1:
            raise ValueError(f"sparsity {c} is outside (0, 1)")
        out.add(round(c, 4))
    if not out:
        raise ValueError("give at least one sparsity, e.g. 0.8, 0.9, 0.95")
    return sorted(out)


def uploads_dir() -> Path:
    path = bet_home() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_upload(name: str, data: bytes) -> Path:
    """Keep an uploaded file under ``$BET_HOME/uploads/<content hash>/<its name>``: re-uploading
    the same file reuses it, a stored run's config still points at it later, and the dataset (so
    every run on it) is named after the file the user uploaded. A different file under a name
    already taken gets ``name-2`` (``u-2.data``), so two uploads never share a name. The name is
    stored as :func:`dashboard.paths.upload_name` makes it safe (any name: long, ``../``, NUL)."""
    safe = upload_name(name)
    folder = uploads_dir() / hashlib.sha256(data).hexdigest()[:12]
    taken = {p.name for p in uploads_dir().glob("*/*") if p.parent != folder}
    stem, dot, suffix = safe.partition(".")
    final, k = safe, 2
    while final in taken:
        final, k = f"{stem}-{k}{dot}{suffix}", k + 1
    path = folder / final
    if not path.exists():
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{final}.{secrets.token_hex(4)}.part"  # one per writer: two sessions may race
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def memory_needs(cfg: SearchConfig, data: Dataset) -> dict[str, tuple[int, str]]:
    """What each phase of the configured search holds in memory at once (the engine's own model,
    :func:`bet.memory_needs`, as ``bet search`` checks it), said in the page's words: training a
    full-width table, and during the search also two candidate pools of ``m`` actions (this
    iteration's and the next, drawn a step ahead)."""
    needs = engine_memory_needs(cfg, data)
    rows = f"{data.n_rows:,} rows"
    said = {
        "pretrain": f"pretraining on {data.name} ({rows})",
        "search": (
            f"the search's candidate pools (m = {cfg.candidates:,} actions of {rows}, two at a time) "
            f"with {cfg.parallel_candidates} finetune(s)"
        ),
        "retrain": f"retraining the top {cfg.retrain_top} on {data.name} ({rows})",
    }
    return {phase: (need, said[phase]) for phase, (need, _) in needs.items()}


def check_memory_needs(cfg: SearchConfig, data: Dataset) -> None:
    """Raise :class:`~bet.errors.ConfigError` (with the estimate) for the first phase that cannot
    fit in the memory BET may use (``BET_MEMORY_MB``, else what the machine has available)."""
    for need, what in memory_needs(cfg, data).values():
        check_memory(need, what)


def estimate(cfg: SearchConfig | BaselineConfig, backbones: list[str], data: Dataset) -> dict[str, float]:
    """Estimated seconds per phase of the runs Start would queue (one per backbone, one after
    another), from this machine's measured step and evaluation times (:mod:`bet.estimate`); a
    reference run (``BaselineConfig``) too, for the time left in a batch."""
    total: dict[str, float] = {}
    device = resolve_device(cfg.device)
    for backbone in backbones:
        one = dataclasses.replace(cfg, backbone=backbone)
        for phase, secs in plan(one, data, measure(data, backbone, device, cfg.d_max)).items():
            total[phase] = total.get(phase, 0.0) + secs
    return total


#: Order of a search's phases, and which planned phases each one covers.
PHASES = {"pretrain": ("pretrain",), "search": ("finetune", "evaluation", "predictor"), "retrain": ("retrain",)}


#: Phases whose own ETA counts every step early stopping allows (an upper bound: it usually stops sooner).
EARLY_STOPPED = ("pretrain", "retrain")


def remaining(phase: str, phase_eta: float | None, planned: dict[str, float]) -> float | None:
    """Seconds left in the whole run: the current phase's own ETA (or its planned length) plus
    the planned length of the phases after it. An early-stopped phase's own ETA, an upper bound
    (every step early stopping allows), is capped by the phase's planned length (the plan knows
    how long such trainings ran here, :mod:`bet.observed`)."""
    if phase not in PHASES:
        return phase_eta
    names = list(PHASES)
    own = sum(planned.get(p, 0.0) for p in PHASES[phase])
    here = own if phase_eta is None else phase_eta
    if phase_eta is not None and phase in EARLY_STOPPED and own > 0:
        here = min(phase_eta, own)
    later = sum(planned.get(p, 0.0) for ph in names[names.index(phase) + 1 :] for p in PHASES[ph])
    return here + later


def redact(text: str) -> str:
    """``text`` as a page may show it: an uploaded file by the name the user gave it, not where
    the server keeps it (``.../uploads/<hash>/u.data`` → ``u.data``; also the older
    ``<hash>-u.data`` layout), other files of the server's BET home as ``$BET_HOME/…`` (the
    store, the model cache), and only the file name of each frame of a traceback."""
    text = re.sub(re.escape(str(bet_home() / "uploads")) + r"/[0-9a-f]{12}[/-]", "", text)
    text = text.replace(str(bet_home()) + "/", "$BET_HOME/")
    return re.sub(r'File "/[^"]*/([^/"]+)"', r'File ".../\1"', text)


def shown(text: str) -> str:
    """A message for st.error and friends: :func:`redact`-ed, then escaped so that nothing in it
    (a quoted value, a file name) renders as a link, an image or markup."""
    return md(redact(text))
