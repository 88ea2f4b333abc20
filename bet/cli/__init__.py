"""``python -m bet``: the command line. Built at the edge: argparse here, the library below.

User mistakes (:class:`~bet.errors.BetError`) print one line and exit 2; progress goes to
stderr; with ``--json`` the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import io
import logging
import sys
import warnings

from tqdm import tqdm

from bet import __version__
from bet.cli import basic, estimate, frontier, report, reproduce, runs, sample, search
from bet.cli.common import FreshLineHandler, LineStart, check_memory, load_data, training_bytes, validate_args
from bet.cli.output import check_output, protect_for
from bet.errors import BetError, shorten
from bet.frontier import parse_list
from bet.memory import check_memory_needs
from bet.methods import METHODS
from bet.runtime import tune_heap

COMMANDS = (basic, search, sample, estimate, frontier, runs, reproduce, report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bet",
        description="BET Studio: fit recommender embedding tables into a memory budget (BET, WSDM 2024).",
    )
    parser.add_argument("--version", action="version", version=f"bet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def warn_local_ray(args: argparse.Namespace) -> None:
    """Once, on stderr: a private local Ray (``--executor ray``, no address) that this Ray release
    cannot keep on loopback (see :mod:`bet.executors.ray_local` and docs/cluster.md)."""
    if getattr(args, "executor", None) != "ray" or getattr(args, "address", None):
        return
    if importlib.util.find_spec("ray") is None:
        return  # the executor refuses it with the install hint
    from bet.executors.ray_local import supported

    if not supported():
        print(
            "warning: this Ray release cannot keep a private local Ray on loopback: its ports may listen on "
            "every interface (firewall them, or run where no one else can connect; docs/cluster.md)",
            file=sys.stderr,
        )


def check_search_memory(args: argparse.Namespace) -> None:
    """``search``, ``estimate``, ``frontier``: refuse bad settings, then data nothing can be
    evaluated on, then settings whose phases cannot fit in memory (the pool of ``-m`` candidates
    included), before a run row exists (the command reuses the loaded dataset)."""
    if args.command not in ("search", "estimate", "frontier") or getattr(args, "resume", None):
        return
    sparsities = parse_list(args.sparsities) if args.command == "frontier" else [args.sparsity]
    if not sparsities or sparsities[0] is None:
        return  # the command names what is missing
    cfg = search.search_config(args, sparsities[0])
    data = load_data(args)
    remote = getattr(args, "executor", "local") == "ray" and getattr(args, "address", None)
    if remote:
        return  # the cluster's machines train, not this one
    runs = getattr(args, "workers", None) or 1
    at_once = f" × {runs} runs at once" if runs > 1 else ""
    check_memory(runs * training_bytes(data, args.d_max), f"training on {data.name} ({data.n_rows:,} rows){at_once}")
    if args.command != "frontier" or any(
        m in METHODS and METHODS[m].kind == "search" for m in parse_list(args.methods, str)
    ):
        check_memory_needs(cfg, data, runs)


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
    for stream in (sys.stdout, sys.stderr):  # a non-UTF-8 locale: escape what it cannot show, never crash
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    stderr, sys.stderr = sys.stderr, LineStart(sys.stderr)  # type: ignore[assignment]
    try:
        handler = FreshLineHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.WARNING, handlers=[handler])
        return _main(argv)
    finally:
        sys.stderr = stderr


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        tune_heap()
        validate_args(args)
        protect_for(args)
        if args.command == "reproduce":
            check_output(args.table, "--table")
        warn_local_ray(args)
        check_search_memory(args)
        return int(args.func(args) or 0)
    except BetError as exc:
        return fail(str(exc))
    except MemoryError:
        return fail("out of memory: the dataset or the settings need more than this machine has")
    except OSError as exc:
        if exc.errno not in DISK_ERRORS:
            raise
        where = f" writing {shorten(str(exc.filename), quote=False)}" if exc.filename else ""
        return fail(f"{exc.strerror or exc}{where}; nothing already stored is lost (free space and --resume)")
    except KeyboardInterrupt:
        close_bars()
        if isinstance(sys.stderr, LineStart):
            sys.stderr.fresh_line()
        print("interrupted", file=sys.stderr)
        return 130


#: A full disk, a quota or a file-size limit, a read-only file system: the machine's state, not a bug.
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def close_bars() -> None:
    """Clear every progress bar still on stderr, so what follows starts on a line of its own."""
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()
    sys.stderr.flush()


def fail(message: str) -> int:
    """The one-line error of a refused command (exit code 2), on a line of its own."""
    close_bars()
    if isinstance(sys.stderr, LineStart):
        sys.stderr.fresh_line()
    print(f"error: {message}", file=sys.stderr)
    return 2
