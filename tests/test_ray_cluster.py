"""The Ray executor against clusters it did not start: an unreachable address is a user error (one
line, exit code 2, the runs recorded as failed), a real `ray start --head` cluster is joined by
address and by Ray Client, and the local path never imports Ray."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from bet.config import BaselineConfig  # noqa: E402
from bet.data import Dataset  # noqa: E402
from bet.errors import ConfigError  # noqa: E402
from bet.executors import make_executor  # noqa: E402
from bet.executors.ray_driver import RayExecutor  # noqa: E402
from bet.runs import create_job  # noqa: E402
from bet.store import RunStore  # noqa: E402
from tests.proc_helpers import free_port, wait_port  # noqa: E402
from tests.ray_helpers import ROOT, bet_cli  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]  # one Ray cluster at a time


# --- an unreachable cluster -----------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_unreachable_address_is_a_config_error(scheme: str, clean_home: Path, mini: Dataset) -> None:
    address = f"{scheme}127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=re.escape(address)):
        RayExecutor(address=address).connect()
    # Through run(): the runs it was given are recorded as failed with the reason, never left queued.
    store = RunStore(clean_home / "bet.sqlite")
    job = create_job(store, BaselineConfig(method="pop", device="cpu"), mini)
    with pytest.raises(ConfigError, match="cannot reach the Ray cluster"):
        RayExecutor(address=address, workers=1).run(store, [job])
    run = store.get_run(job.run_id)
    assert run.status == "failed" and address in run.error


def test_unreachable_address_cli_one_line(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    proc = bet_cli(
        "frontier", "--sparsities", "0.9", "--methods", "pop", "--executor", "ray", "--address", address, "--json",
        home=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and address in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_local_path_never_imports_ray(tmp_path: Path) -> None:
    code = (
        "import sys; import bet.cli, bet.executors, bet.frontier; "
        "assert bet.executors.make_executor('local', 2).name == 'local'; print('ray' in sys.modules)"
    )
    env = {**os.environ, "BET_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr


def test_bad_workers() -> None:
    with pytest.raises(ConfigError, match="workers"):
        RayExecutor(workers=0)
    ex = make_executor("ray", 3, "127.0.0.1:1")
    assert isinstance(ex, RayExecutor) and ex.name == "ray" and ex.workers == 3


# --- a real `ray start` cluster, joined by address --------------------------------------------


def test_ray_start_cluster_by_address(ray_head: dict[str, Any], tmp_path: Path, write_file: Any) -> None:
    """The command line, a separate driver process, against `ray start --head`: by host:port (a
    streaming task per run, two at a time), then by ray:// (Ray Client, which has no streaming:
    whole runs). A tiny dataset of its own keeps the default training schedule short."""
    rng = np.random.default_rng(0)
    lines = [f"u{u}\ti{i}" for u in range(80) for i in rng.choice(60, size=10, replace=False)]
    data = write_file("tiny.tsv", lines)
    store = tmp_path / "bet.sqlite"
    common = ["frontier", "--dataset", str(data), "--sparsities", "0.9", "--device", "cpu", "--store", str(store),
              "--executor", "ray", "--json"]  # fmt: skip
    by_gcs = bet_cli(*common, "--methods", "su,pop", "--workers", "2", "--address", f"127.0.0.1:{ray_head['port']}",
                     home=tmp_path, env=ray_head["auth"])  # fmt: skip
    assert by_gcs.returncode == 0, by_gcs.stderr[-3000:]
    rows = json.loads(by_gcs.stdout.strip().splitlines()[-1])
    assert [(r["method"], r["status"]) for r in rows] == [("pop", "completed"), ("su", "completed")]
    assert rows[1]["cost"] <= rows[1]["budget"] and rows[1]["test"]["recall@20"] > 0

    wait_port(ray_head["client_port"])
    by_client = bet_cli(*common, "--methods", "pop", "--address", f"ray://127.0.0.1:{ray_head['client_port']}",
                        home=tmp_path, env=ray_head["auth"])  # fmt: skip
    assert by_client.returncode == 0, by_client.stderr[-3000:]
    (row,) = json.loads(by_client.stdout.strip().splitlines()[-1])
    assert row["status"] == "completed" and row["test"] == rows[0]["test"]

    runs = RunStore(store).list_runs()
    assert len(runs) == 3 and {(r.executor, r.status) for r in runs} == {("ray", "completed")}
    assert not (tmp_path / "models").exists(), "the driver trained nothing"
