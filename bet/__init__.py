"""BET Studio's engine: Budgeted Embedding Tables (Qu et al., WSDM 2024) for recommenders.

The package never prints and never imports the dashboard; progress comes out as events
(:mod:`bet.events`). See README.md for the command line.

The names below are the public surface: what the command line and the dashboard build on (the
dashboard imports nothing else; ``tests/test_architecture.py`` checks it). A run, top to bottom:
a configuration (:class:`SearchConfig` / :class:`BaselineConfig`) meets its data in
:func:`create_job` (its budget: :func:`run_budget`, computed there once; a run row in the
:class:`RunStore`), :func:`job_events` executes it
(:func:`bet.search.bet_search` or :func:`bet.baselines.baseline_events`, both over
:mod:`bet.train`), and :func:`record` writes its events into the store.
"""

__version__ = "0.1.0"

from bet import report
from bet.backbones import action_budget
from bet.baselines import baseline_action
from bet.budget import budget_for
from bet.checkpoint import prune_snapshots
from bet.config import BaselineConfig, DataSpec, SearchConfig, baseline_config, run_budget
from bet.data import BUILTIN, FORMATS, SPLIT_RULES, Dataset, load_dataset
from bet.errors import BetError, BudgetError, ConfigError, StoreError
from bet.estimate import LONG_RUN, measure, plan
from bet.executors import EXECUTORS, make_executor
from bet.executors.process import ProcessExecutor
from bet.frontier import frontier_jobs
from bet.load import BUSY_SLOWDOWN, cpu_cores, load_average, started_now
from bet.memory import check_memory, memory_needs, training_bytes
from bet.methods import (
    METHODS,
    Method,
    budgeted_methods,
    frontier_methods,
    method,
    method_colours,
    method_labels,
    once_methods,
)
from bet.paths import bet_home
from bet.predictor import PREDICTORS
from bet.presets import FAST_ABOVE_ROWS, PRESETS, apply_preset, default_preset, preset_settings
from bet.runs import (
    Job,
    create_job,
    create_jobs,
    job_events,
    prepare_resume,
    record,
    resume_job,
    run_baseline,
    run_search,
)
from bet.runtime import DEVICES, resolve_device, tune_heap_or_warn
from bet.selection import SELECTIONS
from bet.store import RESUMABLE, RunRecord, RunStore, Status, best_action, default_path
from bet.timings import cached_for

__all__ = [
    "BUILTIN",
    "BUSY_SLOWDOWN",
    "DEVICES",
    "EXECUTORS",
    "FAST_ABOVE_ROWS",
    "FORMATS",
    "LONG_RUN",
    "METHODS",
    "PREDICTORS",
    "PRESETS",
    "RESUMABLE",
    "SELECTIONS",
    "SPLIT_RULES",
    "BaselineConfig",
    "BetError",
    "BudgetError",
    "ConfigError",
    "DataSpec",
    "Dataset",
    "Job",
    "Method",
    "ProcessExecutor",
    "RunRecord",
    "RunStore",
    "SearchConfig",
    "Status",
    "StoreError",
    "__version__",
    "action_budget",
    "apply_preset",
    "baseline_action",
    "baseline_config",
    "best_action",
    "bet_home",
    "budget_for",
    "budgeted_methods",
    "cached_for",
    "check_memory",
    "cpu_cores",
    "create_job",
    "create_jobs",
    "default_path",
    "default_preset",
    "frontier_jobs",
    "frontier_methods",
    "job_events",
    "load_average",
    "load_dataset",
    "make_executor",
    "measure",
    "memory_needs",
    "method",
    "method_colours",
    "method_labels",
    "once_methods",
    "plan",
    "prepare_resume",
    "preset_settings",
    "prune_snapshots",
    "record",
    "report",
    "resolve_device",
    "resume_job",
    "run_baseline",
    "run_budget",
    "run_search",
    "started_now",
    "training_bytes",
    "tune_heap_or_warn",
]
