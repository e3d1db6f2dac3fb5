"""The Celery application of the fault tests: the real one, with decoding slowed down.

``celery -A tests.service.faultworker worker`` runs the production tasks unchanged, except
that each decode first sleeps ``RAWPROC_FAULT_DECODE_DELAY`` seconds, so a test can be sure
to kill a worker, a broker or storage in the middle of a task. Test code only.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery.signals import worker_process_init

from config.celery import app

DELAY_ENV = "RAWPROC_FAULT_DECODE_DELAY"

__all__ = ["DELAY_ENV", "app"]


@worker_process_init.connect
def _slow_down_decoding(**kwargs: Any) -> None:
    """Patched in each pool process, after Django is set up (models cannot load earlier)."""
    from rawproc.services import processing

    delay = float(os.environ.get(DELAY_ENV, "0"))
    real_decode = processing.decode

    def slow_decode(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        return real_decode(*args, **kwargs)

    processing.decode = slow_decode
