"""The ``rawproc`` command: ``process`` (local batch), ``serve`` (all-in-one), ``token``,
``storage-audit``.

Each subcommand lives in its own module (``-`` in its name becomes ``_``) exposing
``add_parser(subparsers)`` and ``run(args) -> int``; modules are imported only when
their subcommand runs, so ``rawproc process`` never loads Django.
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
    "storage-audit": "Find objects no record references and records missing their object.",
}


def _module(name: str) -> str:
    return f"rawproc.cli.{name.replace('-', '_')}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rawproc", description="raw-processor: camera RAW metadata and web renditions."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in SUBCOMMANDS.items():
        module = importlib.import_module(_module(name))
        module.add_parser(subparsers, name, summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(_module(args.command))
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
