"""Shared fixtures. ``BET_HOME`` points at a throwaway folder before anything imports ``bet``, so
no test ever reads or writes the user's ``~/.bet`` (model cache, run store)."""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `pytest` without `python -m` does not put the root on sys.path
    sys.path.insert(0, str(ROOT))

_HOME = tempfile.mkdtemp(prefix="bet-test-home-")
os.environ["BET_HOME"] = _HOME

#: An xdist worker with a core or less to itself runs torch, and bet's evaluation and sparse
#: propagation, on one thread, and so do the processes it starts: two threads in each of two
#: workers oversubscribed the 2-core machine (8 test files on 2 workers: 203-222 s pinned, 339-532 s
#: not). Tests of the two-thread paths set their thread counts themselves.
ONE_THREAD = bool(os.environ.get("PYTEST_XDIST_WORKER")) and (os.cpu_count() or 1) <= int(
    os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")
)
if ONE_THREAD:
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "BET_EVAL_THREADS", "BET_SPMM_THREADS"):
        os.environ.setdefault(_name, "1")

from bet.data import Dataset, load_dataset  # noqa: E402  (must come after BET_HOME is set)
from tests.ray_helpers import clean_home, ray_head  # noqa: E402, F401  (fixtures for every test module)

if ONE_THREAD:
    import torch

    torch.set_num_threads(1)

WriteFile = Callable[..., Path]


@pytest.fixture(scope="session", autouse=True)
def _bet_home() -> Iterator[Path]:
    """The session's ``BET_HOME`` (removed at the end)."""
    yield Path(_HOME)
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def bet_home(_bet_home: Path) -> Path:
    return _bet_home


@pytest.fixture(scope="session")
def mini() -> Dataset:
    """``gowalla-mini`` with the default paper split (seed 42). Shared: never mutate it."""
    return load_dataset("gowalla-mini")


@pytest.fixture(scope="session")
def gowalla() -> Dataset:
    """Full Gowalla, paper split (about 1 s to load)."""
    return load_dataset("gowalla")


def write_interactions(path: Path, content: str | bytes | Iterable[str], gz: bool = False) -> Path:
    """Write ``content`` (text, raw bytes, or lines without newlines) to ``path``; gzip it if
    ``gz``. Creates parent folders. Returns ``path``."""
    if isinstance(content, bytes):
        data = content
    elif isinstance(content, str):
        data = content.encode()
    else:
        data = "".join(f"{line}\n" for line in content).encode()
    if gz:
        data = gzip.compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """``write_file("name.txt", content, gz=False)`` → a file under this test's ``tmp_path``."""

    def write(name: str, content: str | bytes | Iterable[str], gz: bool = False) -> Path:
        return write_interactions(tmp_path / name, content, gz)

    return write


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Without pytest-xdist (``-p no:xdist``, or not installed), accept pyproject's
    ``--numprocesses=2 --dist=loadgroup`` and run every test in this one process."""
    if pluginmanager.has_plugin("xdist"):
        return
    parser.addoption("--numprocesses", default=None, help="ignored: pytest-xdist is not loaded")
    parser.addoption("--dist", default="no", help="ignored: pytest-xdist is not loaded")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test file runs whole on one xdist worker (its module fixtures are built once, its
    tests run in their order) unless its tests name an ``xdist_group`` of their own (tests that
    share a resource: a Ray cluster). ``@pytest.mark.gpu`` tests need CUDA: skipped (with the reason
    shown) where there is none."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
