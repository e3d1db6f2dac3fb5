"""The ``rawproc`` command: ``process`` (local batch), ``serve`` (all-in-one), ``token``.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; modules are imported only when their subcommand runs, so
``rawproc process`` never loads Django.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS: dict[str, str] = {
    "process": "Render RAW files on this machine into a folder.",
    "serve": "Run the API server and a worker together.",
    "token": "Create a user when missing and print an API token.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rawproc", description="raw-processor: camera RAW metadata and web renditions."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in SUBCOMMANDS.items():
        module = importlib.import_module(f"rawproc.cli.{name}")
        module.add_parser(subparsers, name, summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(f"rawproc.cli.{args.command}")
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
