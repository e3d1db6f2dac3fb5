"""The Celery application of the fault tests: the real one, with faults injected.

``celery -A tests.service.faultworker worker`` runs the production tasks unchanged, except:

- each decode first sleeps ``RAWPROC_FAULT_DECODE_DELAY`` seconds, so a test can be sure
  to kill a worker, a broker or storage in the middle of a task;
- a file whose first 64 KiB hold ``RAWPROC_FAULT_OOM_MARKER`` makes the decode raise
  ``MemoryError``, as a worker that runs out of memory does;
- a file whose EXIF Artist is ``RAWPROC_FAULT_BUG_MARKER`` makes the step after its
  renditions were written raise ``RuntimeError``, as a bug there would.

Test code only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery.signals import worker_process_init

from config.celery import app

DELAY_ENV = "RAWPROC_FAULT_DECODE_DELAY"
OOM_MARKER_ENV = "RAWPROC_FAULT_OOM_MARKER"
BUG_MARKER_ENV = "RAWPROC_FAULT_BUG_MARKER"
_MARKER_WINDOW = 64 * 1024

__all__ = ["BUG_MARKER_ENV", "DELAY_ENV", "OOM_MARKER_ENV", "app"]


@worker_process_init.connect
def _inject_faults(**kwargs: Any) -> None:
    """Patched in each pool process, after Django is set up (models cannot load earlier)."""
    from rawproc.services import processing

    delay = float(os.environ.get(DELAY_ENV, "0"))
    oom_marker = os.environ.get(OOM_MARKER_ENV, "").encode()
    bug_marker = os.environ.get(BUG_MARKER_ENV, "")
    real_decode = processing.decode
    real_commit = processing._commit_result

    def faulty_decode(path: Path, *args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        if oom_marker:
            with open(path, "rb") as fh:
                if oom_marker in fh.read(_MARKER_WINDOW):
                    raise MemoryError("injected by the fault worker")
        return real_decode(path, *args, **kwargs)

    def faulty_commit(asset: Any, task_id: str, result: Any, *args: Any, **kwargs: Any) -> Any:
        if bug_marker and result.metadata.get("artist") == bug_marker:
            raise RuntimeError("injected by the fault worker after the renditions were written")
        return real_commit(asset, task_id, result, *args, **kwargs)

    processing.decode = faulty_decode
    processing._commit_result = faulty_commit
