"""A report to send: one self-contained HTML file about one run, a comparison or a sweep.

It opens offline (figures are inline SVG, the stylesheet is inline, there is no script and
nothing is fetched) and states the configuration, the budget and packed size, the results
against the reference runs of the store (picked by validation metrics; test metrics are only
read out), the recall-vs-budget frontier, the size histograms of the winning action, the "why
this recall" findings and the run's provenance (dataset checksums, split fingerprint, seeds,
BET Studio version, dates).

>>> html = render(RunStore(), ["20260101-120000-abc123"])       # doctest: +SKIP
>>> Path("report.html").write_text(html)                         # doctest: +SKIP

The dashboard can pass its own dataset loader (``datasets``) to reuse the datasets it has loaded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from bet.errors import StoreError
from bet.report.collect import (
    Loader,
    data_key,
    default_loader,
    fmt_seconds,
    frontier_points,
    packed_mb,
    public_name,
)
from bet.report.figures import frontier
from bet.report.findings import (
    HEAD,
    allocation_by_bin,
    by_frequency,
    features,
    features_frame,
    head_share,
    narrative,
    quartile_contrast,
    spearman,
)
from bet.report.page import Html, document, esc, num, table
from bet.report.sections import Context, run_section
from bet.store import RunRecord, RunStore

#: What the dashboard uses besides :func:`render`: the same numbers and sentences as the report.
__all__ = [
    "HEAD",
    "allocation_by_bin",
    "by_frequency",
    "features",
    "features_frame",
    "fmt_seconds",
    "head_share",
    "narrative",
    "packed_mb",
    "quartile_contrast",
    "render",
    "select_runs",
    "spearman",
]


def select_runs(store: RunStore, run_ids: Sequence[str] = (), comparison: str | None = None) -> list[RunRecord]:
    """The runs a report is about: the given ids (in order), then the comparison's (oldest first)."""
    runs = [store.get_run(rid) for rid in dict.fromkeys(run_ids)]
    if comparison is not None:
        group = sorted(store.list_runs(comparison_id=comparison), key=lambda r: r.created_at)
        if not group:
            raise StoreError(f"no runs with comparison id {comparison!r} in {store.path}")
        seen = {r.run_id for r in runs}
        runs += [r for r in group if r.run_id not in seen]
    if not runs:
        raise StoreError("give at least one run (--run RUN_ID) or a comparison (--comparison ID)")
    return runs


def overview(runs: list[RunRecord]) -> str:
    rows = [
        [
            Html(f'<a href="#run-{esc(r.run_id)}">{esc(r.run_id)}</a>'),
            r.method,
            r.backbone,
            public_name(r.dataset),
            f"{r.sparsity:g}",
            num(r.budget, ","),
            num(r.cost, ","),
            num(r.metric(split="valid")),
            num(r.metric()),
            num(r.metric("ndcg@20")),
            r.status,
        ]
        for r in runs
    ]
    return "<h2>Runs in this report</h2>" + table(
        [
            "run",
            "method",
            "backbone",
            "dataset",
            "c",
            "budget",
            "params kept",
            "valid recall@20",
            "test recall@20",
            "test NDCG@20",
            "status",
        ],
        rows,
        numeric=(4, 5, 6, 7, 8, 9),
    )


def frontiers(runs: list[RunRecord], everything: list[RunRecord], heading: str = "h2") -> str:
    """One recall-vs-budget chart per dataset/split/backbone of the reported runs."""
    out, reported = [f"<{heading}>Recall vs budget</{heading}>"], {r.run_id for r in runs}
    for key in dict.fromkeys(data_key(r) for r in runs):
        first = next(r for r in runs if data_key(r) == key)
        points = frontier_points(everything, key)
        where = f"{public_name(first.dataset)} · {first.backbone}"
        if not points:
            out.append(f'<p class="note">{esc(where)}: no completed runs to draw yet.</p>')
            continue
        svg, others = frontier(points, reported, f"Test recall@20 vs budget — {where}")
        out.append(
            f'<div class="figs">{svg}</div><p class="note">Every completed run of {esc(where)} (same split) '
            f"in the store: at each budget and method the line goes through the run with the best validation "
            f"recall@20{f'; {others} other run(s) in grey' if others else ''}. Circled: this report's runs. "
            "Dashed: the full-size model; dotted: the popularity floor.</p>"
        )
    return "".join(out)


def render(
    store: RunStore,
    run_ids: Sequence[str] = (),
    comparison: str | None = None,
    *,
    datasets: Loader | None = None,
    now: float | None = None,
) -> str:
    """The report on ``run_ids`` (and/or every run of ``comparison``) as one HTML string.

    ``datasets(config["data"]) -> Dataset | None`` supplies the dataset a run was trained on (for
    the findings and the split fingerprint); by default it is loaded here, and left out (with a
    note) when it cannot be. Raises :class:`~bet.errors.StoreError` for an unknown run or comparison.
    """
    runs = select_runs(store, run_ids, comparison)
    generated = now if now is not None else time.time()
    ctx = Context(store, store.list_runs(), datasets or default_loader())
    if len(runs) == 1:
        title, sub = f"BET Studio report — run {runs[0].run_id}", runs[0].label(long=True)
    else:
        title = f"BET Studio report — {len(runs)} runs" + (f", comparison {comparison}" if comparison else "")
        sub = ", ".join(sorted({f"{public_name(r.dataset)} · {r.backbone}" for r in runs}))
    if len(runs) == 1:
        parts = [run_section(ctx, runs[0], generated, frontier=frontiers(runs, ctx.runs, "h3"))]
    else:
        parts = [overview(runs), frontiers(runs, ctx.runs)] + [run_section(ctx, r, generated) for r in runs]
    return document(title, sub, parts)
