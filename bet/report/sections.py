"""The sections of a run in the report: headline, configuration, budget, results vs references,
sizes, fitness, the "why this recall" findings (:mod:`bet.report.story`) and provenance."""

from __future__ import annotations

import contextlib
from typing import Any

from bet import __version__
from bet.budget import Action
from bet.data import Dataset
from bet.errors import BetError
from bet.methods import METHODS, method_name
from bet.report import figures
from bet.report.collect import (
    FULL,
    SU,
    Context,
    duration,
    fmt_seconds,
    packed_mb,
    public_config,
    public_name,
    references,
    source_checksums,
    when,
)
from bet.report.page import Html, bold, esc, figs, flatten, kv, num, table
from bet.report.story import search_story
from bet.status import Status
from bet.store import RunRecord, best_action

SETTINGS = (
    "backbone",
    "sparsity",
    "iterations",
    "candidates",
    "finetune_steps",
    "retrain_top",
    "selection",
    "predictor",
    "seed",
    "d_max",
)


def headline(run: RunRecord, refs: list[RunRecord]) -> Html:
    """One sentence from the runs: what BET keeps of the full model's recall vs uniform sizes."""
    if run.status != Status.COMPLETED:
        why = (run.error or "").split("\n")[0]
        return bold(f"This run is **{run.status}**" + (f": {why}" if why else "") + "; its numbers are partial.")
    me, by = run.metric(), {r.method: r for r in refs}
    kept, full, su = run.kept_fraction, by.get(FULL.name), by.get(SU.name)
    budgeted = run.method not in METHODS or METHODS[run.method].budgeted
    at = f"At **{kept:.1%}** of the parameters, " if kept is not None and budgeted else ""
    name = method_name(run.method)
    if me is None:
        return bold(f"{at}{name} has no test result.")
    if full is not None and full.metric():
        fv = full.metric() or 1.0
        text = f"{at}{name} keeps **{me / fv:.0%}** of the full model's test recall@20 ({me:.4f} vs {fv:.4f})"
        if su is not None and run.method != SU.name and su.metric() is not None:
            text += f"; uniform sizes (SU) keep **{(su.metric() or 0) / fv:.0%}** ({su.metric():.4f})"
    else:
        text = f"{at}{name} reaches test recall@20 **{me:.4f}**"
        if su is not None and run.method != SU.name and su.metric() is not None:
            text += f"; uniform sizes (SU) reach **{su.metric():.4f}** at the same budget"
    return bold(text + ".")


def configuration(run: RunRecord) -> str:
    cfg = public_config(run.config)
    top = [(k, cfg[k]) for k in SETTINGS if k in cfg]
    top.insert(0, ("dataset", public_name(run.dataset)))
    top.insert(1, ("method", method_name(run.method) + f" ({run.kind})"))
    return (
        "<h3>Configuration</h3>"
        + kv(top)
        + f"<details><summary>Every setting (frozen config)</summary>{kv(flatten(cfg))}</details>"
    )


def budget(ctx: Context, run: RunRecord, action: Action | None) -> str:
    n, d_max, cost = run.n_rows, run.d_max, run.params
    pairs: list[tuple[str, Any]] = [("sparsity c", f"{run.sparsity:g}")]
    if n:
        full = n * d_max
        pairs.append(
            (
                "embedding table rows",
                f"{n:,} (users {num(run.n_users, ',')}, items {num(run.n_items, ',')})",
            )
        )
        pairs.append(("full table", f"{full:,} parameters · {full * 4 / 1e6:.2f} MB (float32)"))
        if run.budget:
            pairs.append(
                (
                    "budget",
                    (
                        f"{run.budget:,} parameters ({run.budget / full:.1%} of the full table, "
                        f"{run.budget / n:.1f} per row on average)"
                    ),
                )
            )
        if cost is not None:
            pairs.append(("parameters kept", f"{cost:,}"))
            pairs.append(("packed size", f"{packed_mb(cost, n, d_max):.3f} MB (float32 values + the size of each row)"))
    with contextlib.suppress(BetError):
        pairs.append(("stored packed table (.npz)", f"{len(ctx.store.table(run.run_id)):,} bytes"))
    if action is not None:
        what = "winning action" if run.kind == "search" else "its action"
        pairs.append((what, f"cost {action.cost:,} · sizes {int(action.sizes.min())}–{int(action.sizes.max())}"))
    return "<h3>Budget and packed size</h3>" + kv(pairs)


def results(run: RunRecord, refs: list[RunRecord]) -> str:
    rows, me = [run, *refs], []
    full = next((r.metric() for r in refs if r.method == FULL.name), run.metric() if run.method == FULL.name else None)
    body = []
    for r in rows:
        n, cost, t = r.n_rows, r.params, r.metric()
        mb = packed_mb(cost, n, r.d_max) if cost is not None and n else None
        body.append(
            [
                method_name(r.method),
                r.run_id,
                f"{r.sparsity:g}",
                num(cost, ","),
                num(mb, ".3f"),
                num(r.metric(split="valid")),
                num(r.metric("ndcg@20", "valid")),
                num(t),
                num(r.metric("ndcg@20")),
                f"{t / full:.0%}" if t is not None and full else "–",
            ]
        )
        me.append(r is run)
    note = (
        "References: the completed SU / SR / MDE runs of the same dataset, split, backbone and budget, and the "
        "full-size and popularity runs, one per method — the one with the best <strong>validation</strong> "
        "recall@20. Test metrics are read-outs only: nothing here was chosen by them."
    )
    if not refs:
        note = "No reference runs of the same dataset, split, backbone and budget are in this store."
    return (
        "<h3>Results vs the references</h3>"
        + table(
            [
                "method",
                "run",
                "c",
                "params kept",
                "MB",
                "valid recall@20",
                "valid NDCG@20",
                "test recall@20",
                "test NDCG@20",
                "test R@20 vs full",
            ],
            body,
            numeric=(2, 3, 4, 5, 6, 7, 8, 9),
            highlight=me,
        )
        + f'<p class="note">{note}</p>'
    )


def sizes(run: RunRecord, row: dict[str, Any] | None, action: Action | None) -> str:
    if action is None or row is None:
        what = "every row has d_max dimensions" if run.method == FULL.name else "no embedding sizes stored"
        return f'<h3>Embedding sizes</h3><p class="note">{esc(what)}.</p>'
    n = len(action.user_sizes) + len(action.item_sizes)
    uniform = (run.budget or action.cost) / n
    what = "the result" if run.kind == "search" and run.status == Status.COMPLETED else "the best action so far"
    what = what if run.kind == "search" else f"the {method_name(run.method)} action"
    return f"<h3>Embedding sizes of {esc(what)} (action {row['action_id']}, cost {action.cost:,})</h3>" + figs(
        figures.histograms(action.user_sizes, action.item_sizes, uniform=uniform, d_max=run.d_max)
    )


def provenance(ctx: Context, run: RunRecord, data: Dataset | None, *, generated: float) -> str:
    spec = run.data_spec
    pre = ctx.store.events(run.run_id, kinds=("pretrain_finished",))
    pairs: list[tuple[str, Any]] = [
        ("run", run.run_id),
        ("comparison", run.comparison_id or "–"),
        ("status", run.status),
        ("dataset", public_name(run.dataset)),
    ]
    for name, digest in source_checksums(spec):
        pairs.append((f"sha256 of {name}", digest))
    if data is not None:
        pairs.append(("split fingerprint", data.fingerprint))
        counts = data.counts()
        pairs.append(
            (
                "interactions",
                (
                    f"{counts['interactions']:,} (train {counts['train']:,}, valid "
                    f"{counts['valid']:,}, test {counts['test']:,}); {data.n_users:,} users, {data.n_items:,} items"
                ),
            )
        )
    else:
        pairs.append(("split fingerprint", "not available (the dataset could not be loaded here)"))
    pairs += [
        ("split", f"{spec.get('split', '–')} (split seed {spec.get('split_seed', '–')})"),
        ("run seed", run.seed),
        ("device", run.config.get("device", "–")),
        ("executor", f"{run.executor} ({run.workers} worker(s))"),
    ]
    if pre:
        pairs.append(
            ("full model", "from the cache" if pre[-1].get("cached") else f"pretrained in {pre[-1]['seconds']:.0f}s")
        )
    pairs += [
        ("created", when(run.created_at)),
        ("started", when(run.started_at)),
        ("finished", when(run.finished_at)),
        ("duration", fmt_seconds(duration(run))),
        ("report made by", f"BET Studio {__version__}, {when(generated)}"),
    ]
    return "<h3>Provenance</h3>" + kv(pairs)


def run_section(ctx: Context, run: RunRecord, generated: float, *, frontier: str = "") -> str:
    actions = ctx.store.actions(run.run_id)
    row = best_action(actions, run)
    action = ctx.store.action(run.run_id, row["action_id"]) if row is not None else None
    data = ctx.load(run.data_spec) if run.config else None
    refs = references(run, ctx.runs)
    return (
        (
            f'<section class="run" id="run-{esc(run.run_id)}"><h2>{esc(run.label(long=True))}</h2>'
            f'<p class="sub">run {esc(run.run_id)}</p><p class="lead">{headline(run, refs)}</p>'
        )
        + configuration(run)
        + budget(ctx, run, action)
        + results(run, refs)
        + frontier
        + sizes(run, row, action)
        + search_story(ctx, run, actions, row=row, action=action, data=data)
        + provenance(ctx, run, data, generated=generated)
        + "</section>"
    )
