"""Watched vs unwatched: the one-click demo's BET search in a real browser against the same search
from the CLI, side by side in one run (issue 11 §1: watched ≤ 1.2× the CLI), and the demo's time
from the click to the full story (issue 11 §2: ≤ 2 minutes on 2 cores).

Each repeat: (1) a fresh BET_HOME; the dashboard served from it, headless Chromium clicks "Run the
demo" and keeps the Live page open on the BET run (the charts polling) until every demo run has
finished — first repeat cold (the full model pretrains), later ones reuse the first's cached model;
(2) the same search from the CLI (``python -m bet search``, same configuration and seed) with the
same model cache. Both search phases are timed from the store's own event timestamps, from the
``search`` phase event to the ``retrain`` one (pretraining and retraining excluded on both sides),
and the two runs must find the same result. Prints every repeat, the medians and their ratio.

    python bench/watch_vs_cli.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_helpers import dashboard, launch  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bet.store import RunStore, Status  # noqa: E402
from dashboard.settings import DEMO  # noqa: E402


def search_seconds(store: RunStore, run_id: str) -> float:
    """The search phase of a run: from its ``search`` phase event to its ``retrain`` one."""
    t = {e["phase"]: e["t"] for e in store.events(run_id, kinds=("phase",))}
    return float(t["retrain"] - t["search"])


def watched(home: Path, shots: Path | None) -> tuple[float, float, str, float]:
    """Click the demo, watch it; returns (BET search phase s, click → full story s, BET run id, valid R@20)."""
    with dashboard(home) as url, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.locator(".st-key-demo button").click()
        t0 = time.monotonic()
        story = page.locator(".st-key-story").filter(has_text="runs of this batch completed")
        story.first.wait_for()
        while "still running" in story.first.inner_text():
            if time.monotonic() - t0 > 600:
                raise RuntimeError("the demo did not finish within 10 minutes")
            time.sleep(0.5)
        to_story = time.monotonic() - t0
        if shots is not None:
            page.screenshot(path=str(shots), full_page=True)
        browser.close()
    store = RunStore(home / "bet.sqlite")
    bet = next(r for r in store.list_runs() if r.method == "bet" and abs(r.sparsity - DEMO.sparsity) < 1e-9)
    assert bet.status == Status.COMPLETED, bet
    return search_seconds(store, bet.run_id), to_story, bet.run_id, bet.result["valid"]["recall@20"]


def cli(home: Path) -> tuple[float, float]:
    """The demo's BET search from the CLI (model cache in ``home``); (search phase s, valid R@20)."""
    c = DEMO
    store = home / "cli.sqlite"
    cmd = [sys.executable, "-m", "bet", "search", "--dataset", c.data.dataset, "--backbone", c.backbone,
           "--sparsity", str(c.sparsity), "--iterations", str(c.iterations), "--candidates", str(c.candidates),
           "--retrain-top", str(c.retrain_top), "--retrain-epochs", str(c.retrain.epochs), "--seed", str(c.seed),
           "--store", str(store), "--json"]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, "BET_HOME": str(home)}, check=True, capture_output=True)
    s = RunStore(store)
    (run,) = s.list_runs()
    return search_seconds(s, run.run_id), run.result["valid"]["recall@20"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shots", type=Path, default=None, help="folder for a full-page screenshot of each story")
    args = ap.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    models: Path | None = None
    rows = []
    for i in range(args.repeats):
        home = Path(tempfile.mkdtemp(prefix="bet-bench-watch-"))
        if models is not None:  # later repeats reuse the first repeat's pretrained model
            shutil.copytree(models, home / "models")
        shot = args.shots / f"story_{i + 1}.png" if args.shots else None
        w, story, rid, w_valid = watched(home, shot)
        models = models or home / "models"
        c, c_valid = cli(home)
        same = "same result" if abs(w_valid - c_valid) < 1e-9 else f"DIFFERENT valid R@20 {w_valid} vs {c_valid}"
        rows.append((w, c, story))
        print(f"repeat {i + 1}{' (cold)' if i == 0 else ''}: watched {w:.1f} s · CLI {c:.1f} s · ratio {w / c:.2f} "
              f"· click → full story {story:.1f} s · {same} (run {rid})", flush=True)  # fmt: skip
    w_med, c_med = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    print(f"median search phase: watched {w_med:.1f} s · CLI {c_med:.1f} s · ratio {w_med / c_med:.2f} (target ≤ 1.2)")
    print(f"click → full story: {', '.join(f'{r[2]:.0f} s' for r in rows)} (target ≤ 120 s; the first one cold)")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
