"""Queueing and processing assets: at-least-once delivery made safe by the database.

Brokers may lose a message (a server-less broker when a whole worker dies) or deliver it
twice (Redis after the visibility timeout, a requeue by the stale sweep). So the asset row
decides: ``Asset.task_id`` names the one job allowed to run; a task whose id is not the
asset's current one does nothing; and results are committed only if the task still owns
the asset, so a superseded run never overwrites a newer one.

A processing run that never reports back (a segfault in LibRaw, ``kill -9``, the hard time
limit) leaves the asset in ``processing``. It is found again either by the redelivered
message (same task id, status still ``processing``) or by ``asset_requeue_stale``; each
time counts as a crash, and after ``RAWPROC_MAX_CRASHES`` the asset fails with
``decoder_crashed`` instead of poisoning the queue.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rawproc import storage
from rawproc.imaging.errors import ImagingError, describe_exception
from rawproc.imaging.specs import RenditionSpec

if TYPE_CHECKING:  # the engine (numpy, OpenCV, LibRaw) loads in the worker, at the first use
    from rawproc.imaging.engine import EngineOptions, ProcessResult
from rawproc.models import Asset, AssetStatus, Variant
from rawproc.services.errors import InvalidState
from rawproc.services.originals import (
    DuplicateOriginal,
    OriginalChanged,
    original_adopt,
    original_fetch,
)
from rawproc.services.placeholders import rendition_thumbhash
from rawproc.webhooks.services import ASSET_FAILED, ASSET_READY, webhook_event_emit

logger = logging.getLogger(__name__)

# Errors worth retrying with backoff: the input is fine, the infrastructure is not.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    storage.StorageUnavailable,
    OperationalError,
    InterfaceError,
)
# What the task retries with backoff: transient errors, and running out of memory (a busy
# machine, not a damaged file).
RETRIED_ERRORS: tuple[type[Exception], ...] = (*TRANSIENT_ERRORS, MemoryError)
# Messages of the failures the engine does not describe itself.
INTERNAL_ERROR = "An unexpected error stopped the processing of this file; it has been logged."
OUT_OF_MEMORY = "The server ran out of memory processing this file, every time it tried."
STORAGE_GAVE_UP = "Storage could not be reached, even after several retries."
# Time a run may stay in ``processing`` beyond the hard limit before it is presumed dead.
STALE_GRACE_SECONDS = 60
SWEEP_BATCH = 500
# Bytes searched for ``RAWPROC_TEST_CRASH_MARKER`` (a test-only hook).
CRASH_MARKER_WINDOW = 64 * 1024


def engine_options() -> EngineOptions:
    from rawproc.imaging.engine import EngineOptions

    return EngineOptions(
        force_sensor=settings.RAWPROC_FORCE_SENSOR,
        max_pixels=settings.RAWPROC_MAX_PIXELS,
        copy_exif=settings.RAWPROC_COPY_EXIF,
        strip_gps=settings.RAWPROC_STRIP_GPS,
    )


def rendition_specs() -> tuple[RenditionSpec, ...]:
    return tuple(settings.RAWPROC_RENDITIONS)


# --- queueing ---------------------------------------------------------------------------


def asset_enqueue(asset: Asset, *, new_job: bool = True) -> None:
    """Give the asset a fresh job and send it to the workers once the transaction commits.

    ``new_job`` resets the attempt and crash counters (an upload or a reprocess); a requeue
    by the stale sweep keeps them so that a file that kills workers is eventually failed.
    """
    asset.task_id = uuid.uuid4().hex
    asset.status = AssetStatus.QUEUED
    asset.queued_at = timezone.now()
    asset.started_at = None
    if new_job:
        asset.attempts = 0
        asset.crashes = 0
        asset.error_code = ""
        asset.error_message = ""
        asset.error_detail = ""
    asset.save(
        update_fields=[
            "task_id",
            "status",
            "queued_at",
            "started_at",
            "attempts",
            "crashes",
            "error_code",
            "error_message",
            "error_detail",
            "updated_at",
        ]
    )
    asset_id, task_id = str(asset.pk), asset.task_id
    # robust: a broker outage must not fail an upload that is already safely recorded; the
    # stale sweep sends the job again later.
    transaction.on_commit(lambda: _send(asset_id, task_id), robust=True)


def _send(asset_id: str, task_id: str) -> None:
    from rawproc.tasks import process_asset

    process_asset.apply_async(
        args=(asset_id,),
        task_id=task_id,
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )


def asset_reprocess(*, asset: Asset) -> Asset:
    """Render the asset again with the current settings; the old variants stay until replaced."""
    with transaction.atomic():
        locked = Asset.objects.select_for_update().get(pk=asset.pk)
        if locked.status == AssetStatus.UPLOADING:
            raise InvalidState("The upload has not been completed yet.")
        if not locked.storage_key:
            raise InvalidState("This asset has no original of its own (a duplicate).")
        asset_enqueue(locked)
    return locked


def asset_requeue_stale(*, now: datetime | None = None) -> int:
    """Send again the jobs the broker may have lost; fail the ones that keep crashing.

    Stale means ``processing`` for longer than the hard time limit allows (its worker
    died), or ``queued`` for ``RAWPROC_STALE_QUEUED_SECONDS`` (the message was lost, or the
    broker was down when it was sent). Returns how many assets were requeued or failed.
    """
    now = now or timezone.now()
    dead_after = timedelta(seconds=settings.RAWPROC_TASK_HARD_TIME_LIMIT + STALE_GRACE_SECONDS)
    lost_after = timedelta(seconds=settings.RAWPROC_STALE_QUEUED_SECONDS)
    stale = Q(status=AssetStatus.PROCESSING, started_at__lt=now - dead_after) | Q(
        status=AssetStatus.QUEUED, queued_at__lt=now - lost_after
    )
    with transaction.atomic():
        assets = list(Asset.objects.select_for_update(skip_locked=True).filter(stale)[:SWEEP_BATCH])
        for asset in assets:
            if asset.status == AssetStatus.PROCESSING:
                asset.crashes += 1
                if asset.crashes >= settings.RAWPROC_MAX_CRASHES:
                    _mark_crashed(asset)
                    continue
            logger.warning("requeueing stale asset %s (was %s)", asset.pk, asset.status)
            asset_enqueue(asset, new_job=False)
    return len(assets)


# --- processing -------------------------------------------------------------------------


def asset_process(*, asset_id: str, task_id: str, final_attempt: bool = False) -> None:
    """Run one delivery of a processing job; safe to call any number of times.

    ``ImagingError`` (bad input) fails the asset for good. Transient storage and database
    errors and ``MemoryError`` put it back in ``queued`` and propagate so the task retries
    with backoff, unless this is the ``final_attempt``, which fails it with
    ``storage_unavailable`` or ``out_of_memory``. Any other exception is a defect: the asset
    fails at once with ``internal_error`` and the traceback is logged. Whatever fails, the
    renditions this run wrote are removed.
    """
    asset = _claim(asset_id, task_id)
    if asset is None:
        return
    version = uuid.uuid4().hex[:12]
    written: list[str] = []
    try:
        result, timings = _render_asset(asset, task_id)
        upload_started = time.perf_counter()
        for rendition in result.renditions:
            key = storage.rendition_key(
                asset.pk, rendition.spec.name, rendition.spec.extension, version
            )
            storage.save(key, rendition.data, rendition.spec.content_type)
            written.append(key)
        timings["upload"] = _elapsed_ms(upload_started)
        replaced = _commit_result(asset, task_id, result, written, timings)
    except ImagingError as exc:
        logger.info("asset %s failed: %s [%s] %s", asset_id, exc, exc.code, exc.detail)
        _discard(written)
        _finish_failed(asset.pk, task_id, exc.code, exc.message, exc.detail, metadata=exc.metadata)
        return
    except OriginalChanged as exc:
        _finish_failed(asset.pk, task_id, exc.code, str(exc))
        return
    except DuplicateOriginal:
        return
    except SoftTimeLimitExceeded:
        _discard(written)
        limit = settings.RAWPROC_TASK_SOFT_TIME_LIMIT
        _finish_failed(asset.pk, task_id, "processing_timeout", f"Processing took over {limit} s.")
        return
    except storage.ObjectNotFound:
        _discard(written)
        _finish_failed(
            asset.pk, task_id, "original_missing", "The original file is not in storage."
        )
        return
    except RETRIED_ERRORS as exc:
        # Retried with backoff by the task; the last attempt fails the asset with the reason.
        _discard(written)
        if isinstance(exc, MemoryError):
            logger.warning("asset %s: out of memory (final attempt: %s)", asset_id, final_attempt)
            code, message = "out_of_memory", OUT_OF_MEMORY
        else:
            code, message = "storage_unavailable", STORAGE_GAVE_UP
        if final_attempt:
            _finish_failed(asset.pk, task_id, code, message, describe_exception(exc))
            return
        _release(asset.pk, task_id)
        raise
    except Exception as exc:
        logger.exception("asset %s: unexpected error in processing", asset_id)
        _discard(written)
        _finish_failed(asset.pk, task_id, "internal_error", INTERNAL_ERROR, describe_exception(exc))
        return
    for warning in result.warnings:
        logger.info(
            "asset %s: %s: %s (%s)", asset_id, warning.code, warning.message, warning.detail
        )
    if replaced is None:
        logger.info("asset %s was reprocessed or deleted meanwhile; results dropped", asset_id)
        _discard(written)
    else:
        _discard(replaced)


def _claim(asset_id: str, task_id: str) -> Asset | None:
    """Mark the asset ``processing`` for this job; ``None`` when there is nothing to do."""
    with transaction.atomic():
        asset = Asset.objects.select_for_update().filter(pk=asset_id).first()
        if asset is None or asset.task_id != task_id:
            logger.info("task %s for asset %s is superseded; skipped", task_id, asset_id)
            return None
        if asset.status == AssetStatus.PROCESSING:
            # An earlier delivery of this same job started and never reported back.
            asset.crashes += 1
            if asset.crashes >= settings.RAWPROC_MAX_CRASHES:
                _mark_crashed(asset)
                return None
            logger.warning(
                "asset %s: previous run died (%d so far); retrying", asset_id, asset.crashes
            )
        elif asset.status != AssetStatus.QUEUED:
            return None
        asset.status = AssetStatus.PROCESSING
        asset.attempts += 1
        asset.started_at = timezone.now()
        asset.save(update_fields=["status", "attempts", "crashes", "started_at", "updated_at"])
        return asset


def _render_asset(asset: Asset, task_id: str) -> tuple[ProcessResult, dict[str, float]]:
    """Fetch and verify the original into a temporary file, deduplicate it, and run the
    engine on it."""
    timings: dict[str, float] = {}
    if asset.queued_at is not None and asset.started_at is not None:
        timings["queue_wait"] = (asset.started_at - asset.queued_at).total_seconds() * 1000
    with tempfile.TemporaryDirectory(prefix="rawproc-") as tmp:
        path = Path(tmp) / storage.safe_filename(asset.original_filename)
        started = time.perf_counter()
        sha256 = original_fetch(asset, path)
        timings["download"] = _elapsed_ms(started)
        original_adopt(asset, task_id, sha256)
        result = decode(path, rendition_specs(), engine_options(), name=asset.original_filename)
    timings.update(result.timings_ms)
    return result, timings


def decode(
    path: Path, specs: tuple[RenditionSpec, ...], options: EngineOptions, *, name: str
) -> ProcessResult:
    """The native decode, in the worker's process. Celery's prefork pool runs each task in a
    child process, so a crash here kills one child and one delivery, never the worker."""
    marker = settings.RAWPROC_TEST_CRASH_MARKER
    if marker is not None:
        with open(path, "rb") as fh:
            if marker in fh.read(CRASH_MARKER_WINDOW):
                os.abort()  # what a segfault in LibRaw does to the process
    from rawproc.imaging.engine import process_raw

    return process_raw(path, specs, options, name=name)


def _commit_result(
    asset: Asset,
    task_id: str,
    result: ProcessResult,
    keys: list[str],
    timings: dict[str, float],
) -> list[str] | None:
    """Switch the asset to its new variants atomically; return the keys they replaced.

    ``None`` means the job was superseded (reprocessed or deleted) and nothing was written.
    """
    with transaction.atomic():
        locked = Asset.objects.select_for_update().filter(pk=asset.pk).first()
        if locked is None or locked.task_id != task_id or locked.status != AssetStatus.PROCESSING:
            return None
        replaced = list(locked.variants.values_list("storage_key", flat=True))
        locked.variants.all().delete()
        Variant.objects.bulk_create(
            Variant(
                asset=locked,
                name=rendition.spec.name,
                spec_key=rendition.spec.key,
                format=rendition.spec.format,
                width=rendition.width,
                height=rendition.height,
                size=rendition.size_bytes,
                storage_key=key,
                source=rendition.source,
            )
            for rendition, key in zip(result.renditions, keys, strict=True)
        )
        _apply_metadata(locked, result.metadata)
        locked.raw_format = result.format or locked.raw_format
        locked.degraded = result.degraded
        locked.warnings = [warning.as_dict() for warning in result.warnings]
        locked.thumbhash = rendition_thumbhash(result.renditions)
        assert locked.started_at is not None
        locked.processed_at = timezone.now()
        timings["total"] = (locked.processed_at - locked.started_at).total_seconds() * 1000
        locked.timings = {stage: round(ms, 1) for stage, ms in timings.items()}
        locked.status = AssetStatus.READY
        locked.error_code = ""
        locked.error_message = ""
        locked.error_detail = ""
        locked.save()
        webhook_event_emit(locked, ASSET_READY)
    return replaced


def _apply_metadata(asset: Asset, metadata: dict[str, Any]) -> None:
    """Keep the engine's record, and copy the common fields into indexed columns for filters."""
    asset.metadata = metadata
    asset.camera_make = _text(metadata.get("camera_make"), 100)
    asset.camera_model = _text(metadata.get("camera_model"), 100)
    asset.lens_model = _text(metadata.get("lens_model"), 200)
    iso = metadata.get("iso")
    asset.iso = iso if isinstance(iso, int) and 0 < iso < 2**31 else None
    asset.taken_at = _taken_at(metadata.get("taken_at"))


def _text(value: object, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _taken_at(value: object) -> datetime | None:
    """The capture time for filtering and ordering.

    A time with its UTC offset (EXIF OffsetTime*, TimeZoneOffset, a maker-note zone) is
    the instant it names. A camera wall-clock time without a zone is read in the
    library's time zone (``TIME_ZONE``), never taken for UTC; the record keeps it as the
    camera wrote it.
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is None:
        return None
    if timezone.is_aware(parsed):
        return parsed
    return timezone.make_aware(parsed, timezone.get_default_timezone())


def _finish_failed(
    asset_id: uuid.UUID,
    task_id: str,
    code: str,
    message: str,
    detail: str = "",
    *,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Fail the asset; ``metadata`` (what the engine read before it failed) is kept, so a
    file that cannot be rendered is still described and found by the filters."""
    with transaction.atomic():
        asset = Asset.objects.select_for_update().filter(pk=asset_id).first()
        if asset is None or asset.task_id != task_id:
            return
        if metadata is not None:
            _apply_metadata(asset, metadata)
        _fail(asset, code, message, detail)


def _mark_crashed(asset: Asset) -> None:
    logger.error("asset %s crashed its worker %d times; failing it", asset.pk, asset.crashes)
    _fail(
        asset,
        "decoder_crashed",
        f"Processing stopped without finishing {asset.crashes} times "
        "(the worker crashed or was killed); giving up.",
        "the worker process running it exited without reporting back each time",
    )


def _fail(asset: Asset, code: str, message: str, detail: str = "") -> None:
    asset.status = AssetStatus.FAILED
    asset.error_code = code
    asset.error_message = message[:2000]
    asset.error_detail = detail[:4000]
    asset.processed_at = timezone.now()
    asset.save()
    webhook_event_emit(asset, ASSET_FAILED)


def _release(asset_id: uuid.UUID, task_id: str) -> None:
    """Hand the job back to the queue (status ``queued``) before a retry."""
    Asset.objects.filter(pk=asset_id, task_id=task_id, status=AssetStatus.PROCESSING).update(
        status=AssetStatus.QUEUED, queued_at=timezone.now(), updated_at=timezone.now()
    )


def _discard(keys: list[str]) -> None:
    """Best-effort removal of objects no record points to; leftovers are only wasted bytes."""
    for key in keys:
        try:
            storage.delete(key)
        except storage.StorageError as exc:
            logger.warning("could not delete %s: %s", key, exc)


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
