"""Celery tasks: thin wrappers over the processing services.

``process_asset`` and ``render_rendition`` (a rendition asked for on demand) run on the
``rawproc.decode`` queue (``RAWPROC_DECODE_QUEUE``) so heavy decoding can have its own
workers; the stale sweep runs on the default queue.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_init, worker_process_init, worker_ready
from django.conf import settings

from rawproc.imaging.allocator import tune_allocator
from rawproc.services.processing import RETRIED_ERRORS, asset_process, asset_requeue_stale
from rawproc.services.renditions import rendition_job_run
from rawproc.services.storage_audit import storage_audit_report, storage_sweep

logger = logging.getLogger(__name__)


# A decode job: acknowledged only when done (a worker that dies leaves it to be delivered
# again), retried with backoff on the transient errors, the last attempt told so.
DECODE_JOB: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": RETRIED_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": settings.RAWPROC_RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "max_retries": settings.RAWPROC_TASK_MAX_RETRIES,
}


@shared_task(name="rawproc.process_asset", **DECODE_JOB)
def process_asset(self: Task[[str], None], asset_id: str) -> None:
    asset_process(
        asset_id=asset_id,
        task_id=str(self.request.id),
        final_attempt=self.request.retries >= (self.max_retries or 0),
    )


@shared_task(name="rawproc.render_rendition", **DECODE_JOB)
def render_rendition(self: Task[[str, str], None], asset_id: str, spec_key: str) -> None:
    rendition_job_run(
        asset_id=asset_id,
        spec_key=spec_key,
        task_id=str(self.request.id),
        final_attempt=self.request.retries >= (self.max_retries or 0),
    )


@shared_task(name="rawproc.requeue_stale")
def requeue_stale() -> int:
    return asset_requeue_stale()


@shared_task(name="rawproc.storage_sweep")
def sweep_storage() -> dict[str, int]:
    return storage_sweep()


@shared_task(name="rawproc.storage_audit")
def audit_storage() -> dict[str, Any]:
    return storage_audit_report()


@worker_ready.connect
def sweep_at_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts after a crash sends again what the crash lost."""
    try:
        count = asset_requeue_stale()
    except Exception:  # the worker must start even when the database is not there yet
        logger.exception("stale sweep at worker start failed")
        return
    if count:
        logger.warning("requeued or failed %d stale assets at worker start", count)


@worker_init.connect
@worker_process_init.connect
def decode_allocator(sender: Any = None, **kwargs: Any) -> None:
    """The allocator settings of a decoding process, in the worker and each pool process
    (``rawproc.imaging.allocator``)."""
    tune_allocator()
