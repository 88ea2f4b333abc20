"""``python -m bet``: the command line. Built at the edge: argparse here, the library below.

User mistakes (:class:`~bet.errors.BetError`) print one line and exit 2; progress goes to
stderr; with ``--json`` the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import warnings

from bet import __version__
from bet.cli import basic, frontier, report, reproduce, runs, search
from bet.cli.common import check_memory, load_data, training_bytes, validate_args
from bet.errors import BetError
from bet.runtime import limit_heap_growth

COMMANDS = (basic, search, frontier, runs, reproduce, report)


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


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    limit_heap_growth()
    try:
        validate_args(args)
        warn_local_ray(args)
        if args.command == "search" and not args.resume and args.sparsity is not None:
            # Refuse bad settings, then data nothing can be evaluated on, before a run row exists
            # (the run reuses the loaded dataset).
            search.search_config(args, args.sparsity)
            data = load_data(args)
            check_memory(training_bytes(data, args.d_max), f"training on {data.name} ({data.n_rows:,} rows)")
        return int(args.func(args) or 0)
    except BetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory: the dataset or the settings need more than this machine has", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
