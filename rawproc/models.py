"""Assets (one uploaded RAW file each) and their variants (one rendered image per spec).

The database is the source of truth for processing state: brokers may lose or repeat
messages, so a task only acts when the asset's ``task_id`` names it (see
``rawproc.services.processing``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class AssetStatus(models.TextChoices):
    UPLOADING = "uploading"
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


# ``error_code`` of an asset whose upload repeated another of the owner's assets: it points
# to that asset (``duplicate_of``) and its own copy of the bytes is dropped.
DUPLICATE = "duplicate"


class Asset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assets"
    )
    original_filename = models.CharField(max_length=255)
    size = models.BigIntegerField(
        help_text="Bytes of the original (declared until the upload completes)."
    )
    content_type = models.CharField(max_length=100, blank=True)
    raw_format = models.CharField(
        max_length=16, blank=True, help_text="RAW family sniffed from the bytes."
    )
    # NULL until the bytes are known (direct uploads), so the dedup constraint skips it.
    sha256 = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    storage_key = models.CharField(
        max_length=512,
        blank=True,
        help_text="Key of the original; empty once its bytes are dropped.",
    )
    # Direct uploads: the one incoming key the client's grant may write, and (embedded
    # storage) when that single write happened; the grant is spent from then on.
    upload_key = models.CharField(max_length=512, blank=True)
    upload_written_at = models.DateTimeField(null=True, blank=True)
    # What was completed, checked by the worker before it decodes: the size above and
    # the object's etag at completion.
    original_etag = models.CharField(max_length=200, blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The owner's asset with the same content, when this upload repeated it.",
    )
    status = models.CharField(
        max_length=16, choices=AssetStatus.choices, default=AssetStatus.QUEUED
    )
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True, help_text="For people: one sentence.")
    error_detail = models.TextField(blank=True, help_text="Technical: for logs and support.")

    metadata = models.JSONField(default=dict, blank=True)
    camera_make = models.CharField(max_length=100, blank=True, db_index=True)
    camera_model = models.CharField(max_length=100, blank=True, db_index=True)
    lens_model = models.CharField(max_length=200, blank=True, db_index=True)
    iso = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    taken_at = models.DateTimeField(null=True, blank=True, db_index=True)
    degraded = models.BooleanField(default=False, help_text="Rendered from the embedded preview.")
    warnings = models.JSONField(
        default=list, blank=True, help_text="The engine's warnings: [{code, message, detail}]."
    )
    timings = models.JSONField(default=dict, blank=True, help_text="Milliseconds per stage.")
    thumbhash = models.CharField(
        max_length=64, blank=True, help_text="ThumbHash of the thumbnail, base64 (placeholder)."
    )

    # Processing bookkeeping: the current job's task id, runs started, runs that never finished.
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    crashes = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Dedup: one asset per owner and content, once the content is known.
            models.UniqueConstraint(
                fields=["owner", "sha256"],
                condition=Q(sha256__isnull=False),
                name="rawproc_asset_unique_owner_sha256",
            ),
        ]
        indexes = [models.Index(fields=["status", "queued_at"], name="rawproc_asset_status_queued")]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.status})"


class Variant(models.Model):
    """One stored rendition of an asset, unique per spec (``spec_key``, e.g. ``2048.jpeg.85``);
    ``name`` is the alias it was made under, or the key with ``-`` for an unnamed spec."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=32)
    spec_key = models.CharField(max_length=64)
    format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.BigIntegerField()
    storage_key = models.CharField(max_length=512)
    source = models.CharField(
        max_length=32, help_text="embedded_preview | half_size | full_demosaic"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "name"], name="rawproc_variant_unique_asset_name"
            ),
            models.UniqueConstraint(
                fields=["asset", "spec_key"], name="rawproc_variant_unique_asset_spec"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}/{self.name}"


class RenditionJobStatus(models.TextChoices):
    PENDING = "pending"
    FAILED = "failed"


class RenditionJob(models.Model):
    """A rendition being made on demand: one row per (asset, spec), so however many clients
    ask for a missing spec at once, one of them makes it. Deleted when the variant is stored;
    a failed one stays for a while with its error, then a request tries again."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="rendition_jobs")
    spec_key = models.CharField(max_length=64)
    name = models.CharField(max_length=32, help_text="The name the variant will have.")
    task_id = models.CharField(max_length=64)
    # The asset's processing job when this one was asked for: a reprocess since then
    # drops the result, made from what the reprocess replaces.
    asset_task_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=16, choices=RenditionJobStatus.choices, default=RenditionJobStatus.PENDING
    )
    source = models.CharField(max_length=40, blank=True, help_text="stored variant key | original")
    attempts = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "spec_key"], name="rawproc_renditionjob_unique_asset_spec"
            )
        ]

    def __str__(self) -> str:
        return f"{self.asset_id}/{self.spec_key} ({self.status})"
