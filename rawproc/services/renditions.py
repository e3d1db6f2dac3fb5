"""Renditions on demand: any allowed spec of a ready asset, made once, from the cheapest
correct source.

``variant_get_or_create`` answers at once: the stored variant of the spec, or the job that
is making it. Requests for a missing spec are serialised on the asset's row, and the job
row is unique per (asset, spec), so however many clients ask at the same moment one of
them starts the work and the others see it pending.

The source is a stored variant at least as large when there is one (a resize and an
encode; done in the request itself when the source is small, by a worker otherwise), else
the original, decoded by a worker through the engine with just this spec. A job never
touches the asset's processing state: it fails alone, with a code, and a result made
while the asset was reprocessed is dropped.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from rawproc import storage
from rawproc.imaging import ImagingError, RenditionSpec
from rawproc.imaging.derive import derive_rendition
from rawproc.imaging.engine import Rendition
from rawproc.imaging.errors import describe_exception
from rawproc.imaging.specs import FormatUnsupported, SpecError, SpecText, parse_spec_text
from rawproc.models import Asset, AssetStatus, RenditionJob, RenditionJobStatus, Variant
from rawproc.services.errors import (
    AssetNotReady,
    RenditionFormatNotAllowed,
    RenditionFormatUnsupported,
    RenditionSizeNotAllowed,
    RenditionSpecInvalid,
)
from rawproc.services.originals import original_fetch
from rawproc.services.processing import (
    INTERNAL_ERROR,
    RETRIED_ERRORS,
    STALE_GRACE_SECONDS,
    STORAGE_GAVE_UP,
    _discard,
    decode,
    engine_options,
)

logger = logging.getLogger(__name__)

# Formats a stored variant can be resized from, and derived ones can be encoded to:
# 8-bit, like the variants themselves (a 16-bit rendition comes from the original).
DERIVABLE_FORMATS = frozenset(("jpeg", "webp", "avif"))
ORIGINAL = "original"
# A failed job answers with its error for this long; the next request then tries again.
FAILED_RETRY_SECONDS = 300
# What ``Retry-After`` suggests while a job is pending.
RETRY_AFTER_DERIVED = 1
RETRY_AFTER_ORIGINAL = 2


# --- specs ------------------------------------------------------------------------------


def rendition_spec(text: str, *, negotiated: str = "jpeg") -> RenditionSpec:
    """The spec a request names: an alias (``thumbnail``, as configured), or spec text of
    an allowed size and format; ``negotiated`` is the format of a text without one."""
    aliases = settings.RAWPROC_RENDITION_ALIASES
    if text in aliases:
        spec: RenditionSpec = aliases[text]
        return spec
    try:
        parsed = parse_spec_text(text)
    except SpecError as exc:
        raise RenditionSpecInvalid(str(exc)) from None
    if parsed.size not in settings.RAWPROC_RENDITION_SIZES:
        allowed = ", ".join(
            "full" if s is None else str(s) for s in settings.RAWPROC_RENDITION_SIZES
        )
        raise RenditionSizeNotAllowed(f"Size {text.split('.')[0]} is not offered; use {allowed}.")
    fmt = parsed.format or negotiated
    if fmt not in settings.RAWPROC_RENDITION_FORMATS:
        allowed = ", ".join(settings.RAWPROC_RENDITION_FORMATS)
        raise RenditionFormatNotAllowed(f"Format {fmt} is not offered; use {allowed}.")
    try:
        return parsed.spec(fmt)
    except FormatUnsupported as exc:
        raise RenditionFormatUnsupported(str(exc)) from None


def spec_of_key(key: str, name: str | None = None) -> RenditionSpec | None:
    """The spec a stored key names, ``None`` for a key no spec has (an older variant's)."""
    parsed = _parsed_key(key)
    try:
        return None if parsed is None else parsed.spec(name=name)
    except SpecError:
        return None


def _parsed_key(key: str) -> SpecText | None:
    try:
        return parse_spec_text(key)
    except SpecError:
        return None


# --- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenditionState:
    """A spec of an asset: its stored variant, or the job making it (pending or failed)."""

    spec: RenditionSpec
    variant: Variant | None = None
    job: RenditionJob | None = None

    @property
    def status(self) -> str:
        if self.variant is not None:
            return "ready"
        return "missing" if self.job is None else self.job.status

    @property
    def retry_after(self) -> int:
        source = self.job.source if self.job is not None else ORIGINAL
        return RETRY_AFTER_ORIGINAL if source == ORIGINAL else RETRY_AFTER_DERIVED


def rendition_state(*, asset: Asset, spec: RenditionSpec) -> RenditionState:
    """What exists for the spec, without starting anything."""
    variant = Variant.objects.filter(asset=asset, spec_key=spec.key).first()
    if variant is not None:
        return RenditionState(spec, variant=variant)
    job = RenditionJob.objects.filter(asset=asset, spec_key=spec.key).first()
    if job is not None and _restartable(job, asset.task_id):
        job = None  # over, abandoned or from before a reprocess: a request starts it afresh
    return RenditionState(spec, job=job)


def variant_get_or_create(*, asset: Asset, spec: RenditionSpec) -> RenditionState:
    """The variant of ``spec``, made if it is missing (``AssetNotReady`` unless the asset
    is ready). Returns it when it exists or was made in this request, else the job."""
    variant = Variant.objects.filter(asset=asset, spec_key=spec.key).first()
    if variant is not None:
        return RenditionState(spec, variant=variant)
    try:
        with transaction.atomic():
            state, inline = _start(asset, spec)
    except IntegrityError:
        # Another request inserted the job between our read and our write (databases
        # without row locks): it is that request's work.
        return rendition_state(asset=asset, spec=spec)
    if state.job is None or not inline:
        return state
    job = state.job
    try:
        rendition_job_run(asset_id=str(asset.pk), spec_key=spec.key, task_id=job.task_id)
    except RETRIED_ERRORS:
        # Storage or the database is down: nothing to remember, the next request tries again.
        RenditionJob.objects.filter(pk=job.pk, task_id=job.task_id).delete()
        raise
    return rendition_state(asset=asset, spec=spec)


def _start(asset: Asset, spec: RenditionSpec) -> tuple[RenditionState, bool]:
    """Within a transaction: the state of the spec, a new job when none is running, and
    whether the job is to be run in this request."""
    locked = Asset.objects.select_for_update().filter(pk=asset.pk).first()
    if locked is None:
        raise AssetNotReady("The asset was deleted.")
    variant = Variant.objects.filter(asset=locked, spec_key=spec.key).first()
    if variant is not None:
        return RenditionState(spec, variant=variant), False
    job = RenditionJob.objects.filter(asset=locked, spec_key=spec.key).first()
    if job is not None and not _restartable(job, locked.task_id):
        return RenditionState(spec, job=job), False
    if locked.status != AssetStatus.READY:
        raise AssetNotReady(f"The asset is {locked.status}; renditions are made once it is ready.")
    source = _choose_source(locked, spec)
    inline = source is not None and source.width * source.height <= (
        settings.RAWPROC_RENDITION_INLINE_MAX_PIXELS
    )
    job = job or RenditionJob(asset=locked, spec_key=spec.key)
    job.name = spec.name
    job.task_id = uuid.uuid4().hex
    job.asset_task_id = locked.task_id
    job.status = RenditionJobStatus.PENDING
    job.source = ORIGINAL if source is None else source.spec_key
    job.attempts = 0
    job.error_code = job.error_message = job.error_detail = ""
    job.save()
    if not inline:
        asset_id, key, task_id = str(locked.pk), spec.key, job.task_id
        transaction.on_commit(lambda: _send(asset_id, key, task_id), robust=True)
    return RenditionState(spec, job=job), inline


def _restartable(job: RenditionJob, asset_task_id: str) -> bool:
    """A job to start again: one from before the asset's last reprocess, a failure older
    than ``FAILED_RETRY_SECONDS``, or a pending one its worker must have died on."""
    if job.asset_task_id != asset_task_id:
        return True
    age = timezone.now() - job.updated_at
    if job.status == RenditionJobStatus.FAILED:
        return age > timedelta(seconds=FAILED_RETRY_SECONDS)
    return age > timedelta(seconds=settings.RAWPROC_TASK_HARD_TIME_LIMIT + STALE_GRACE_SECONDS)


def _choose_source(asset: Asset, spec: RenditionSpec) -> Variant | None:
    """The smallest stored variant that holds every pixel ``spec`` needs, or ``None``
    (decode the original): full size and 16-bit renditions always come from the original."""
    if spec.size is None or spec.format not in DERIVABLE_FORMATS:
        return None
    covering = [
        variant
        for variant in Variant.objects.filter(asset=asset, format__in=DERIVABLE_FORMATS)
        if _covers(variant, spec.size)
    ]
    return min(covering, key=lambda v: (v.width * v.height, v.pk), default=None)


def _covers(variant: Variant, size: int) -> bool:
    """A variant covers ``size`` when its long edge is at least that, or when it is
    smaller than its own spec asked for: then it is as large as the picture gets (the
    sensor's size, or the embedded preview's for a degraded asset), which is what the
    original would give too."""
    long_edge = max(variant.width, variant.height)
    if long_edge >= size:
        return True
    parsed = _parsed_key(variant.spec_key)
    if parsed is None:
        return False
    return parsed.size is None or long_edge < parsed.size


def _send(asset_id: str, spec_key: str, task_id: str) -> None:
    from rawproc.tasks import render_rendition

    render_rendition.apply_async(
        args=(asset_id, spec_key),
        task_id=task_id,
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
    )


# --- running a job ----------------------------------------------------------------------


def rendition_job_run(
    *, asset_id: str, spec_key: str, task_id: str, final_attempt: bool = False
) -> None:
    """Make the variant of one job; safe to run any number of times.

    Only the job's current ``task_id`` runs. Bad input (an ``ImagingError``), a timeout
    or a defect fails the job, never the asset. Transient storage and database errors
    propagate for a retry, except on the ``final_attempt``, which fails the job.
    """
    claimed = _claim(asset_id, spec_key, task_id)
    if claimed is None:
        return
    asset, job, spec = claimed
    key: str | None = None
    try:
        started = time.perf_counter()
        rendition = _render(asset, spec, job.source)
        key = storage.rendition_key(asset.pk, spec.name, spec.extension, uuid.uuid4().hex[:12])
        storage.save(key, rendition.data, spec.content_type)
        replaced = _commit(asset, job, rendition, key)
    except ImagingError as exc:
        _fail(job, exc.code, exc.message, exc.detail, key)
        return
    except SoftTimeLimitExceeded:
        limit = settings.RAWPROC_TASK_SOFT_TIME_LIMIT
        _fail(job, "processing_timeout", f"Rendering took over {limit} s.", "", key)
        return
    except storage.ObjectNotFound:
        _fail(job, "source_missing", "The file this rendition is made from is gone.", "", key)
        return
    except RETRIED_ERRORS as exc:
        _discard([key] if key else [])
        if final_attempt:
            _fail(job, "storage_unavailable", STORAGE_GAVE_UP, describe_exception(exc), None)
            return
        raise
    except Exception as exc:
        logger.exception("asset %s: unexpected error rendering %s", asset_id, spec_key)
        _fail(job, "internal_error", INTERNAL_ERROR, describe_exception(exc), key)
        return
    if replaced is None:
        logger.info("asset %s changed while %s was made; result dropped", asset_id, spec_key)
        _discard([key])
        return
    _discard(replaced)
    logger.info(
        "asset %s: rendition %s made from %s in %.0f ms",
        asset_id,
        spec_key,
        job.source,
        (time.perf_counter() - started) * 1000,
    )


def _claim(
    asset_id: str, spec_key: str, task_id: str
) -> tuple[Asset, RenditionJob, RenditionSpec] | None:
    with transaction.atomic():
        job = (
            RenditionJob.objects.select_for_update()
            .filter(asset_id=asset_id, spec_key=spec_key, task_id=task_id)
            .select_related("asset")
            .first()
        )
        if job is None or job.status != RenditionJobStatus.PENDING:
            logger.info("rendition job %s for %s/%s is superseded", task_id, asset_id, spec_key)
            return None
        spec = spec_of_key(spec_key, name=job.name)
        if spec is None:
            _fail(job, "rendition_spec_invalid", f"{spec_key!r} is not a spec.", "", None)
            return None
        job.attempts += 1
        job.save(update_fields=["attempts", "updated_at"])
        return job.asset, job, spec


def _render(asset: Asset, spec: RenditionSpec, source_key: str) -> Rendition:
    if source_key != ORIGINAL:
        source = Variant.objects.filter(asset=asset, spec_key=source_key).first()
        if source is not None:
            with storage.open_object(source.storage_key) as fh:
                data = fh.read()
            return derive_rendition(
                data,
                spec,
                source=f"from:{source.spec_key}"[:32],
                copy_exif=settings.RAWPROC_COPY_EXIF,
            )
    with tempfile.TemporaryDirectory(prefix="rawproc-") as tmp:
        path = Path(tmp) / storage.safe_filename(asset.original_filename)
        original_fetch(asset, path)
        result = decode(path, (spec,), engine_options(), name=asset.original_filename)
    return result.renditions[0]


def _commit(asset: Asset, job: RenditionJob, rendition: Rendition, key: str) -> list[str] | None:
    """Store the variant and end the job; return the keys of the variants it replaced (a
    stale one of the same name). ``None``: the asset was reprocessed or deleted, or the
    job superseded, meanwhile; nothing was written."""
    spec = rendition.spec
    with transaction.atomic():
        locked = Asset.objects.select_for_update().filter(pk=asset.pk).first()
        current = RenditionJob.objects.filter(pk=job.pk, task_id=job.task_id).first()
        if (
            locked is None
            or current is None
            or locked.task_id != job.asset_task_id
            or locked.status != AssetStatus.READY
        ):
            if current is not None:
                current.delete()
            return None
        stale = Variant.objects.filter(asset=locked, name=spec.name) | Variant.objects.filter(
            asset=locked, spec_key=spec.key
        )
        replaced = list(stale.values_list("storage_key", flat=True))
        stale.delete()
        Variant.objects.create(
            asset=locked,
            name=spec.name,
            spec_key=spec.key,
            format=spec.format,
            width=rendition.width,
            height=rendition.height,
            size=rendition.size_bytes,
            storage_key=key,
            source=rendition.source[:32],
        )
        # A new rendition is a change of the asset: a sync by updated_after sees it.
        locked.save(update_fields=["updated_at"])
        current.delete()
    return replaced


def _fail(job: RenditionJob, code: str, message: str, detail: str, key: str | None) -> None:
    logger.info(
        "rendition %s of %s failed: %s [%s] %s", job.spec_key, job.asset_id, message, code, detail
    )
    if key:
        _discard([key])
    RenditionJob.objects.filter(pk=job.pk, task_id=job.task_id).update(
        status=RenditionJobStatus.FAILED,
        error_code=code,
        error_message=message[:2000],
        error_detail=detail[:4000],
        updated_at=timezone.now(),
    )
