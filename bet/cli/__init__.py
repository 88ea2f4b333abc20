"""``python -m bet``: the command line. Built at the edge: argparse here, the library below.

User mistakes (:class:`~bet.errors.BetError`) print one line and exit 2; progress goes to
stderr; with ``--json`` the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    limit_heap_growth()
    try:
        validate_args(args)
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
