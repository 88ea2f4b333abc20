"""Charts and tables a stakeholder reads at a glance (issue 23 §3), without streamlit: compact
budgets on the ticks, a log axis where budgets span a decade, loss axes without "−0.000037", a lone
point not floating in −0.5..1, a lone backbone neither best nor worst, whole table rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from dashboard_helpers import action_rows, run_row

from dashboard import charts, formats, frontier_chart, queries
from dashboard.views import backbones


@pytest.mark.parametrize(
    ("value", "text"),
    [(43744, "44k"), (87488, "87k"), (174976, "175k"), (874880, "875k"), (9067392, "9.1M"), (4374, "4.4k"),
     (999_960, "1M"), (9960, "10k"), (1000, "1k"), (500, "500"), (0, "0"), (-43744, "-44k"), (2.5e9, "2.5B")],
)  # fmt: skip
def test_compact_numbers_for_ticks(value: float, text: str) -> None:
    assert formats.compact(value) == text


def test_compact_refuses_nan_and_short_numbers_keep_two_digits() -> None:
    with pytest.raises(ValueError, match="NaN"):
        formats.compact(math.nan)
    assert [formats.short_number(v) for v in (0.1749, 3.4995, 0.0361, 43744)] == ["0.17", "3.5", "0.036", "44k"]


def test_log_axis_where_budgets_span_a_decade() -> None:
    assert formats.spans_decade([43744, 87488, 874880])  # the full model beside 5-10 % tables
    assert not formats.spans_decade([43744, 87488, 174976])
    assert not formats.spans_decade([0, 87488])  # pop's 0 has no place on a log axis
    assert not formats.spans_decade([])
    assert formats.distinct_ticks([43744, 43700, 87488, 0, math.nan]) == [43744, 87488]  # within 2 %: one label


def test_power_of_ten_scales_tiny_and_huge_axes_only() -> None:
    assert formats.power_of_ten([3.7e-5, 1.2e-5, None]) == -5
    assert formats.power_of_ten([0.001766, 0.001396]) == -3
    assert formats.power_of_ten([0.5, 0.02]) == 0 and formats.power_of_ten([]) == 0 and formats.power_of_ten([0]) == 0
    assert formats.power_of_ten([43744.0]) == 3
    assert formats.times_ten(-5) == "× 10⁻⁵" and formats.times_ten(0) == ""


def test_single_value_range_and_integer_axis() -> None:
    assert formats.single_value_range([0.2, 0.2, None]) == pytest.approx([0.15, 0.25])
    assert formats.single_value_range([0.2, 0.3]) is None and formats.single_value_range([]) is None
    assert formats.single_value_range([1.5]) == pytest.approx([1.125, 1.875])  # outside [0, 1]: not clipped
    assert formats.integer_axis([1, 2]) == {"tickformat": "d", "dtick": 1}
    assert formats.integer_axis(range(1, 60)) == {"tickformat": "d"}


def test_table_height_shows_whole_rows() -> None:
    assert formats.table_height(17) == 35 * 16 + 3  # 15 rows and the header, then it scrolls
    assert formats.table_height(3) == 35 * 4 + 3 and formats.table_height(0) == 35 * 2 + 3
    with pytest.raises(ValueError, match="no -1 rows"):
        formats.table_height(-1)


def test_spearman_chart_loss_axis_reads_without_tiny_decimals() -> None:
    updates = [{"iteration": t, "loss": 3.7e-5 / t, "spearman": 0.2} for t in (1, 2, 3)]
    fig = charts.spearman_figure(updates)
    _, loss = fig.data
    assert list(loss.y) == pytest.approx([3.7, 1.85, 3.7 / 3]) and list(loss.customdata) == pytest.approx(
        [3.7e-5, 1.85e-5, 3.7e-5 / 3]
    )  # the hover gives the loss itself
    axis = fig.layout.yaxis2
    assert axis.title.text == "loss (× 10⁻⁵)" and list(axis.range) == pytest.approx([0, 3.7 * 1.1])
    assert axis.tickmode == "auto"  # round ticks of its own, not ρ's grid lines
    assert fig.layout.xaxis.dtick == 1  # iterations are whole numbers, never "1.5"


def test_a_single_point_is_not_floating_in_minus_half_to_one() -> None:
    fig = charts.fitness_figure(action_rows(1))
    assert list(fig.layout.yaxis.range) == pytest.approx([0.6, 1.0])
    res = {"valid": {"recall@20": 0.2}, "test": {"recall@20": 0.22}, "cost": 87488}
    fig = frontier_chart.frontier_figure(queries.frontier_points([run_row(result=res)]), x="params")
    assert list(fig.layout.yaxis.range) == pytest.approx([0.165, 0.275])


def test_backbone_bars_leave_an_unfinished_backbone_empty() -> None:
    rows = pd.DataFrame([{"backbone": "lightgcn", "recall_20": 0.22, "ndcg_20": 0.17},
                         {"backbone": "ngcf", "recall_20": math.nan, "ndcg_20": None}])  # fmt: skip
    fig = charts.backbone_metrics_figure(rows)
    assert list(fig.data[1].y) == [None, None] and list(fig.data[1].text) == ["", ""]  # not "0.0000"
    assert list(fig.data[0].text) == ["0.2200", "0.1700"]


def test_a_lone_completed_backbone_is_neither_best_nor_worst() -> None:
    group = {"lightgcn": run_row(run_id="l"), "ngcf": run_row(run_id="n", backbone="ngcf", status="running",
                                                              result=None, started_at=None)}  # fmt: skip
    df = backbones.summary(group)
    assert not backbones.comparable(df)  # one result: nothing to shade red or tag "best"
    assert list(df["time"]) == ["1m 20s", "–"]  # not minutes "0.0000"
    text = df.style.format(backbones.FORMATS, na_rep="–").to_html()
    assert "87,488" in text and "87488.0000" not in text and "0.36" in text
    other = run_row(run_id="n2", backbone="ngcf", result={"valid": {"recall@20": 0.18}, "cost": 87488})
    assert backbones.comparable(backbones.summary({**group, "ngcf": other}))
    tie = run_row(run_id="n3", backbone="ngcf", result={"valid": {"recall@20": 0.21}, "cost": 87488})
    assert not backbones.comparable(backbones.summary({**group, "ngcf": tie}))  # equal: no best, no worst
