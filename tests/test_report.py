"""``bet report``: a self-contained HTML report on a tiny gowalla-mini search and its references."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import bet
from bet.cli import main
from bet.config import BaselineConfig
from bet.data import Dataset
from bet.report import render
from bet.report.collect import packed_mb, references
from bet.report.svg import fmt_number, nice_ticks
from bet.runs import run_baseline, run_search
from bet.store import RunRecord, RunStore, Status
from tests.search_helpers import TINY

VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "source", "wbr"}
SVG_EMPTY = {"line", "circle", "rect", "path"}  # written as <x ...></x> or <x .../>


@pytest.fixture(scope="module")
def searched(mini: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, RunRecord, list[RunRecord]]:
    store = RunStore(tmp_path_factory.mktemp("report") / "store.sqlite")
    run = run_search(TINY, store, data=mini, comparison_id="cmp-rep")
    refs = []
    for method in ("su", "full", "pop"):
        cfg = BaselineConfig(TINY.data, TINY.backbone, method, TINY.sparsity, 0, "cpu", TINY.d_max, TINY.retrain,
                             TINY.pretrain)  # fmt: skip
        refs.append(run_baseline(cfg, store, data=mini, comparison_id="cmp-rep"))
    return store, run, refs


class Checker(HTMLParser):
    """Fails on a closing tag that does not match the open one; records what is still open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_html(html: str) -> Checker:
    c = Checker()
    c.feed(html)
    c.close()
    assert not c.errors, c.errors[:5]
    assert c.stack == [], c.stack
    return c


def test_report_states_the_run(searched: tuple[RunStore, RunRecord, list[RunRecord]], mini: Dataset) -> None:
    store, run, refs = searched
    html = render(store, [run.run_id], datasets=lambda spec: mini)
    res = run.result
    assert run.status == "completed"
    assert run.run_id in html and f"{run.budget:,}" in html
    assert f"{packed_mb(res['cost'], mini.n_rows):.3f} MB" in html
    assert f"{res['test']['recall@20']:.4f}" in html and f"{res['valid']['recall@20']:.4f}" in html
    assert mini.fingerprint in html and "61fb99c1e8bcbd8c" in html  # split fingerprint, gowalla train.txt.gz sha256
    assert f"BET Studio {bet.__version__}" in html
    for ref in refs:  # every reference run is in the results table, with its test recall read out
        assert ref.run_id in html and f"{ref.result['test']['recall@20']:.4f}" in html
    full = refs[1].result["test"]["recall@20"]
    kept = res["test"]["recall@20"] / full
    assert f"BET keeps <strong>{kept:.0%}</strong> of the full model" in html
    c = check_html(html)
    svgs = [a for t, a in c.tags if t == "svg"]
    titles = re.findall(r"<svg[^>]*>\s*<title>([^<]*)</title>", html)
    assert len(svgs) >= 6, titles  # frontier, users, items, fitness, 2 allocation charts
    assert any(t.startswith("Test recall@20 vs budget") for t in titles)
    assert any(t.startswith("users (") for t in titles) and any(t.startswith("items (") for t in titles)
    assert "Fitness per iteration" in titles
    assert "Why this recall" in html and "most active users hold" in html


def test_report_is_self_contained(searched: tuple[RunStore, RunRecord, list[RunRecord]], mini: Dataset) -> None:
    store, _, _ = searched
    html = render(store, comparison="cmp-rep", datasets=lambda spec: mini)
    low = html.lower()
    for bad in ("<script", "http://", "https://", "src=", "<link", "@import", "url(", "<iframe"):
        assert bad not in low, bad
    c = check_html(html)
    assert all(t not in ("script", "img", "object", "embed") for t, _ in c.tags)
    assert "Runs in this report" in html and html.count('<section class="run"') == 4


def test_comparison_and_several_runs_agree(
    searched: tuple[RunStore, RunRecord, list[RunRecord]], mini: Dataset
) -> None:
    store, run, refs = searched
    by_ids = render(store, [run.run_id, *(r.run_id for r in refs)], datasets=lambda spec: mini, now=0.0)
    by_cmp = render(store, comparison="cmp-rep", datasets=lambda spec: mini, now=0.0)
    assert "comparison cmp-rep" in by_cmp and by_cmp.replace(", comparison cmp-rep", "") == by_ids


def test_text_is_escaped(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = store.create_run(kind="baseline", method="su", dataset="<b>evil</b>&co", backbone="lightgcn",
                           sparsity=0.9, seed=0, config={"data": {"dataset": "/srv/uploads/<b>evil</b>&co"}},
                           budget=100, status="completed", n_users=5, n_items=5)  # fmt: skip
    store.update_run(rid, result={"valid": {"recall@20": 0.1}, "test": {"recall@20": 0.2}, "cost": 90})
    html = render(store, [rid], datasets=lambda spec: None)
    assert "<b>evil" not in html and "&lt;b&gt;evil&lt;/b&gt;&amp;co" in html
    assert "/srv/uploads" not in html  # never the machine's paths
    assert "could not be loaded" in html
    check_html(html)


def run_row(rid: str, method: str, valid: float, test: float, budget: int = 100, split: str = "paper") -> RunRecord:
    return RunRecord(
        run_id=rid,
        kind="search",
        method=method,
        status=Status.COMPLETED,
        dataset="d",
        backbone="lightgcn",
        sparsity=0.9,
        seed=0,
        budget=budget,
        created_at=1.0,
        config={"data": {"dataset": "d", "split": split}},
        result={"valid": {"recall@20": valid}, "test": {"recall@20": test}},
    )


def test_references_are_picked_by_validation_not_test() -> None:
    me = run_row("bet1", "bet", 0.3, 0.3)
    runs = [
        me, run_row("su-valid", "su", 0.25, 0.10), run_row("su-test", "su", 0.20, 0.40),
        run_row("su-other-budget", "su", 0.9, 0.9, budget=200), run_row("su-other-split", "su", 0.9, 0.9, split="x"),
        run_row("full", "full", 0.5, 0.5, budget=1000), run_row("bet2", "bet", 0.9, 0.9),
        dataclasses.replace(run_row("mde-failed", "mde", 0.9, 0.9), status=Status.FAILED),
    ]  # fmt: skip
    assert [r.run_id for r in references(me, runs)] == ["su-valid", "full"]


def test_ticks_are_round_and_distinct() -> None:
    ticks = nice_ticks(33_599, 33_601)  # a single budget: padded, not "33.599k … 33.601k"
    labels = [fmt_number(ticks[1] - ticks[0])(t) for t in ticks]
    assert len(set(labels)) == len(labels) >= 3 and ticks[0] <= 33_599 and ticks[-1] >= 33_601
    assert nice_ticks(0, 0.17) == pytest.approx([0, 0.05, 0.1, 0.15, 0.2])
    assert [fmt_number(20_000)(t) for t in (0, 20_000, 40_000)] == ["0", "20k", "40k"]


def test_cli_writes_the_report(searched: tuple[RunStore, RunRecord, list[RunRecord]], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    store, run, _ = searched
    out = tmp_path / "sub" / "r.html"
    assert main(["report", "--run", run.run_id, "--store", str(store.path), "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["runs"] == [run.run_id] and doc["bytes"] == out.stat().st_size > 10_000
    text = out.read_text()
    assert run.run_id in text and "<svg" in text


@pytest.mark.parametrize("case", ["unknown run", "out is a folder", "out under a file", "nothing to report"])
def test_cli_mistakes_exit_2_with_one_line(case: str, searched: tuple[RunStore, RunRecord, list[RunRecord]], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    store, run, _ = searched
    (tmp_path / "file.txt").write_text("x")
    args = {
        "unknown run": ["--run", "20000101-000000-nope", "--out", str(tmp_path / "r.html")],
        "out is a folder": ["--run", run.run_id, "--out", str(tmp_path)],
        "out under a file": ["--run", run.run_id, "--out", str(tmp_path / "file.txt" / "r.html")],
        "nothing to report": ["--out", str(tmp_path / "r.html")],
    }[case]
    assert main(["report", "--store", str(store.path), *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in captured.err
    assert not (tmp_path / "r.html").exists()
