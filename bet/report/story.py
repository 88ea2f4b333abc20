"""The search's story in a run's report: its fitness per iteration and "why this recall" — the
findings about where the best action put its parameters, beside uniform sizes and MDE."""

from __future__ import annotations

import math
from typing import Any

from bet.baselines import baseline_action
from bet.budget import Action
from bet.data import Dataset
from bet.errors import BetError
from bet.report import figures, findings
from bet.report.collect import MDE, SU, Context
from bet.report.page import bold, figs, num, table
from bet.store import RunRecord


def search_story(
    ctx: Context,
    run: RunRecord,
    actions: list[dict[str, Any]],
    *,
    row: dict[str, Any] | None,
    action: Action | None,
    data: Dataset | None,
) -> str:
    evald = [a for a in actions if a["iteration"] > 0]
    if run.kind != "search" or not evald:
        return ""
    out = ["<h3>Fitness per iteration</h3>", figs([figures.fitness(actions)])]
    out.append("<h3>Why this recall</h3>")
    if data is None or action is None or row is None or data.n_users != len(action.user_sizes):
        out.append(
            '<p class="note">The dataset could not be loaded where this report was made, so the findings '
            "(they need its interaction counts) are left out.</p>"
        )
        return "".join(out)
    rid, c, seed, d_max = run.run_id, run.sparsity, run.seed, run.d_max
    df = findings.features_frame(
        evald, lambda i: ctx.store.action(rid, i), user_freq=data.user_freq, item_freq=data.item_freq
    )
    pre = ctx.store.events(rid, kinds=("pretrain_finished",))
    full = pre[-1]["valid"]["recall@20"] if pre else None
    best = findings.features(action, data.user_freq, data.item_freq)
    alloc = {
        "BET (best)": (
            findings.allocation_by_bin(action.user_sizes, data.user_freq),
            findings.allocation_by_bin(action.item_sizes, data.item_freq),
        )
    }
    uniform = None
    try:
        for m in (SU, MDE):
            a = baseline_action(m.name, data, c, seed=seed, d_max=d_max)
            uniform = uniform or findings.features(a, data.user_freq, data.item_freq)
            alloc[m.label] = (
                findings.allocation_by_bin(a.user_sizes, data.user_freq),
                findings.allocation_by_bin(a.item_sizes, data.item_freq),
            )
    except BetError:
        pass
    said = findings.narrative(
        best,
        uniform,
        df,
        full_recall=full,
        best_recall=(row.get("metrics") or {}).get("recall@20"),
        kept_fraction=run.kept_fraction,
    )
    out.append("<ul>" + "".join(f"<li>{bold(s)}</li>" for s in said) + "</ul>")
    out.append(
        '<p class="note">Fitness and the validation recall@20 of an action are measured after the short '
        "finetune that ranks actions during the search; the results table above shows the retrained model."
        "</p>"
    )
    out.append(figs(figures.allocation(alloc)))
    top = df.sort_values("fitness", ascending=False).head(10)
    out.append("<p><strong>The fittest actions and where they put their parameters</strong></p>")
    out.append(
        table(
            [
                "action",
                "iteration",
                "strategy",
                "fitness",
                "predicted",
                "valid recall@20",
                "user share",
                "user head share",
                "item head share",
            ],
            [
                [
                    int(r["action_id"]),
                    int(r["iteration"]),
                    r["strategy"] or "–",
                    num(_f(r["fitness"])),
                    num(_f(r["predicted"])),
                    num(_f(r["recall@20"])),
                    f"{r['user share']:.0%}",
                    f"{r['user head share']:.0%}",
                    f"{r['item head share']:.0%}",
                ]
                for r in top.to_dict("records")
            ],
            numeric=(0, 1, 3, 4, 5, 6, 7, 8),
        )
    )
    return "".join(out)


def _f(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
