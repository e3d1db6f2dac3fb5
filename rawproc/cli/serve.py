"""``rawproc serve``: the API server (gunicorn) and a worker (Celery, with beat) in one command.

Runs on the embedded defaults (SQLite, files and a file-system broker under the data
folder) or on whatever the environment names. At start, in this order: Django is set up
once, pending migrations are found with one query against the migration files and applied
only when there are some, static files are collected only when their sources changed; then
the worker is started (it boots on its own while the rest goes on), the WSGI application and
its URLs are loaded here, and the gunicorn arbiter is forked from this process with the
application already loaded (gunicorn's preload), so its web processes import nothing and
the API answers while the worker is still booting.

Children get their own process groups, so Ctrl-C reaches only this supervisor, which stops
each child once (SIGTERM), waits, and kills what is left; if a child dies, the others are
stopped too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from rawproc.cli._openmp import share_cores

STOP_TIMEOUT_SECONDS = 20.0
# gunicorn's own limits answer before the app, in HTML: its request line is raised to its
# maximum so that the app's RAWPROC_MAX_URI_BYTES (JSON 414) is the one clients meet;
# headers keep gunicorn's defaults (100, 8190 bytes).
GUNICORN_LIMITS = {
    "limit_request_line": 8190,
    "limit_request_fields": 100,
    "limit_request_field_size": 8190,
}
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
    from rawproc.cli._django import collect_static, migrate, setup

    setup()
    from django.conf import settings
    from django.db import DatabaseError, connections

    try:
        migrate()
    except DatabaseError as exc:
        print(f"rawproc serve: the database is unavailable: {exc}", file=sys.stderr)
        return 1
    collect_static()

    bind = f"[{args.host}]" if ":" in args.host else args.host
    worker = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--beat",
        "--loglevel", "INFO", "--hostname", "rawproc@%h",
        *(["--concurrency", str(args.concurrency)] if args.concurrency else []),
    ]  # fmt: skip
    web = {
        "bind": [f"{bind}:{args.port}"],
        "workers": args.web_workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 60,
        "graceful_timeout": 10,
        **GUNICORN_LIMITS,
        "accesslog": "-",
    }
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
    connections.close_all()  # no connection is shared with the children

    def start_web() -> Child:
        return _fork(lambda: _run_gunicorn(_load_application(), web))

    return _supervise({"worker": lambda: _popen(worker), "api": start_web})


def _load_application() -> Any:
    """The WSGI application with its middleware and URLs loaded (views, serializers...)."""
    from django.core.wsgi import get_wsgi_application
    from django.db import connections
    from django.urls import get_resolver

    application = get_wsgi_application()
    get_resolver().url_patterns  # noqa: B018 (imports every view module now, not at the first request)
    connections.close_all()
    return application


def _run_gunicorn(application: Any, options: dict[str, Any]) -> None:
    """gunicorn's arbiter in this process, serving ``application`` (already loaded)."""
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    class Web(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {**options, "preload_app": True, "post_fork": _warm_up}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return application

    Web().run()


def _warm_up(server: Any, worker: Any) -> None:
    """In each web process, once forked: load the RAW reader that uploads sniff with
    (numpy, LibRaw) in the background, so the first answers need not wait for it and the
    first upload usually finds it loaded."""
    import threading

    def load() -> None:
        import rawproc.imaging.rawfile  # noqa: F401

    threading.Thread(target=load, name="warm-up", daemon=True).start()


class Child:
    """A child process as ``_supervise`` sees it: a ``subprocess.Popen``, or a fork."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.popen = popen
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            if self.popen is not None:
                self.returncode = self.popen.poll()
            else:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode


def _popen(command: list[str]) -> Child:
    process = subprocess.Popen(command, start_new_session=True, env=os.environ.copy())
    return Child(process.pid, process)


def _fork(body: Callable[[], None]) -> Child:
    """Run ``body`` in a forked child in a session of its own; its exit status is 1 when it
    raised (the traceback is printed), else the status it exited with."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return Child(pid)
    code = 0
    try:
        os.setsid()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        body()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _supervise(starters: dict[str, Callable[[], Child]]) -> int:
    """Start each child in turn (a later starter may still be loading while earlier children
    boot), then wait until one exits or a signal comes, and stop them all."""
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: dict[str, Child] = {}
    status = 0
    try:
        for name, start in starters.items():
            children[name] = start()
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


def _stop_all(children: dict[str, Child]) -> None:
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
