"""``rawproc serve``: the API server (gunicorn) and a worker (Celery, with beat) in one command.

Runs on the embedded defaults (SQLite, files and a file-system broker under the data
folder) or on whatever the environment names. Migrations are applied first. Children get
their own process groups, so Ctrl-C reaches only this supervisor, which stops each child
once (SIGTERM), waits, and kills what is left; if a child dies, the others are stopped too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from rawproc.cli._openmp import share_cores

STOP_TIMEOUT_SECONDS = 20.0
GUNICORN_LIMITS = (
    "--limit-request-line", "8190",
    "--limit-request-fields", "100",
    "--limit-request-field_size", "8190",
)  # fmt: skip
POLL_SECONDS = 0.5


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_parser(subparsers: Any, name: str, summary: str) -> None:
    parser = subparsers.add_parser(name, help=summary, description=summary)
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--port", type=_port, default=8000, help="Port to listen on.")
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=None,
        help="Worker processes decoding in parallel (default: number of CPUs).",
    )
    parser.add_argument(
        "--web-workers", type=_positive, default=2, help="API server processes (default 2)."
    )


class _Stop(Exception):
    """Raised by the signal handler to leave the supervision loop."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _describe(url: str) -> str:
    """A backend URL without credentials, for the start-up banner."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def run(args: argparse.Namespace) -> int:
    from rawproc.cli._django import migrate, setup

    setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import DatabaseError

    try:
        migrate()
    except DatabaseError as exc:
        print(f"rawproc serve: the database is unavailable: {exc}", file=sys.stderr)
        return 1
    call_command("collectstatic", interactive=False, verbosity=0)

    bind = f"[{args.host}]" if ":" in args.host else args.host
    commands = {
        "api": [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"{bind}:{args.port}",
            "--workers", str(args.web_workers),
            "--worker-class", "gthread", "--threads", "4",
            "--timeout", "60", "--graceful-timeout", "10",
            # gunicorn's own limits answer before the app, in HTML: its request line is
            # raised to its maximum so that the app's RAWPROC_MAX_URI_BYTES (JSON 414) is
            # the one clients meet; headers keep gunicorn's defaults (100, 8190 bytes).
            *GUNICORN_LIMITS,
            "--access-logfile", "-",
        ],
        "worker": [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--beat",
            "--loglevel", "INFO", "--hostname", "rawproc@%h",
            *(["--concurrency", str(args.concurrency)] if args.concurrency else []),
        ],
    }  # fmt: skip
    share_cores(os.environ, args.concurrency or os.cpu_count() or 1)  # for the worker's pool
    database = settings.DATABASES["default"]
    storage = settings.STORAGES["default"]
    print(
        f"raw-processor on http://{bind}:{args.port}/api/ (docs at /api/docs/)\n"
        f"  data folder: {settings.DATA_DIR}\n"
        f"  database:    {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}\n"
        f"  broker:      {_describe(settings.CELERY_BROKER_URL)}\n"
        f"  storage:     {storage['BACKEND'].rsplit('.', 1)[-1]} "
        f"{storage['OPTIONS'].get('bucket_name') or storage['OPTIONS'].get('location')}",
        flush=True,
    )
    return _supervise(commands)


def _supervise(commands: dict[str, list[str]]) -> int:
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: dict[str, subprocess.Popen[bytes]] = {}
    status = 0
    try:
        for name, command in commands.items():
            children[name] = subprocess.Popen(
                command, start_new_session=True, env=os.environ.copy()
            )
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    print(
                        f"rawproc serve: {name} exited with status {child.returncode}",
                        file=sys.stderr,
                    )
                    status = 1
                    raise _Stop(name)
            time.sleep(POLL_SECONDS)
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_all(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _stop_all(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM each child once (Celery: warm shutdown), then kill whatever outlives the timeout.

    A task cut short this way is not lost: its message was not acknowledged (``acks_late``).
    """
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        # The child's process group also holds its own children (pool processes, beat).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
