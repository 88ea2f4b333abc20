"""What the dashboard's :class:`~dashboard.runner.Runner` is asked to run: searches (one per
backbone), baselines, recall-vs-budget sweeps and resumed searches become stored, queued jobs —
every config, dataset and budget checked before any run is stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from secrets import token_hex
from typing import TYPE_CHECKING

from bet import (
    BaselineConfig,
    Dataset,
    DataSpec,
    Job,
    RunStore,
    SearchConfig,
    StoreError,
    create_jobs,
    frontier_jobs,
    prepare_resume,
)

EXECUTOR = "dashboard"  # stored in each run row: where it executes
NOT_YOURS = "started in another session: you can watch it, not stop or resume it"


class Submitting:
    """The runner's submitting methods (:class:`~dashboard.runner.Runner` inherits them): each
    creates its runs' rows and queues their jobs with the runner's ``_enqueue`` (on its executor)."""

    store: RunStore

    if TYPE_CHECKING:  # the runner's own

        def dataset(self, spec: DataSpec) -> Dataset: ...

        def _enqueue(self, jobs: Sequence[Job], data: Dataset, owner: str | None = None) -> list[str]: ...

        def may_control(self, run_id: str, who: str | None) -> bool: ...

    # -- submitting ------------------------------------------------------------------------
    def submit(
        self, cfgs: Sequence[SearchConfig | BaselineConfig], comparison_id: str | None = None, owner: str | None = None
    ) -> list[str]:
        """Queue runs on one dataset (searches and baselines), in order; returns their run ids.
        Everything is validated (configs, data, every budget) before any run is stored. ``owner``:
        the session they belong to (None: anyone may stop them)."""
        if not cfgs:
            return []
        for c in cfgs:
            if isinstance(c, SearchConfig):
                c.validate()  # before the data loads: a bad form needs no dataset
        data = self.dataset(cfgs[0].data)
        jobs = create_jobs(
            self.store, cfgs, data, comparison_id=comparison_id, executor=EXECUTOR, workers=1
        )  # each budget, once
        return self._enqueue(jobs, data, owner)

    def submit_search(
        self, cfg: SearchConfig, backbones: Sequence[str] | None = None, owner: str | None = None
    ) -> list[str]:
        """Queue a search, or one per backbone as runs of one comparison (run one after another)."""
        cfgs = [dataclasses.replace(cfg, backbone=b) for b in (backbones or [cfg.backbone])]
        return self.submit(cfgs, "cmp-" + token_hex(3) if len(cfgs) > 1 else None, owner)

    def submit_frontier(
        self,
        base: SearchConfig,
        *,
        sparsities: Sequence[float],
        methods: Sequence[str],
        backbones: Sequence[str] = (),
        owner: str | None = None,
    ) -> list[str]:
        """A recall-vs-budget sweep (:func:`bet.frontier.frontier_jobs`), one comparison per backbone."""
        data = self.dataset(base.data)
        ids: list[str] = []
        for b in backbones or [base.backbone]:
            jobs = frontier_jobs(
                self.store,
                data,
                dataclasses.replace(base, backbone=b),
                sparsities=sparsities,
                methods=methods,
                executor=EXECUTOR,
                workers=1,
            )
            ids += self._enqueue(jobs, data, owner)
        return ids

    def resume(self, run_id: str, owner: str | None = None) -> str:
        """Continue an interrupted, stopped or failed search from its stored actions (it then
        belongs to ``owner``)."""
        if not self.may_control(run_id, owner):
            raise StoreError(NOT_YOURS)
        # claimed atomically (of two sessions, one is refused); data gone or changed: given back as it was
        job, data = prepare_resume(self.store, run_id, load=self.dataset)
        self.store.requeue(run_id)
        return self._enqueue([job], data, owner)[0]
