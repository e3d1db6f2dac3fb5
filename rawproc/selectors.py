"""Reads: every query is scoped to the requesting owner, so another user's asset is a 404."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict
from uuid import UUID

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet, Sum
from django.http import Http404

from rawproc.models import DUPLICATE, Asset, AssetStatus, RenditionJob, Variant

DEFAULT_ORDERING = "-created_at"
ORDERINGS = (
    "-created_at",
    "created_at",
    "taken_at",
    "-taken_at",
    "size",
    "-size",
    "iso",
    "-iso",
    "original_filename",
    "-original_filename",
)


class AssetFilters(TypedDict, total=False):
    q: str
    status: str
    camera_make: str
    camera_model: str
    lens_model: str
    iso_min: int
    iso_max: int
    taken_after: datetime
    taken_before: datetime
    updated_after: datetime
    ordering: str


def asset_list(*, owner: User, filters: AssetFilters | None = None) -> QuerySet[Asset]:
    """The owner's assets, filtered; text filters match case-insensitively, any part of the
    name ("d7100" finds "NIKON D7100"); ``q`` finds its words in the file name, camera or
    lens, each word in any of them ("nikon 35mm" finds a Nikon shot with a 35 mm lens)."""
    filters = filters or {}
    lookups: dict[str, Any] = {}
    search = Q()
    for word in filters.get("q", "").split():
        search &= (
            Q(original_filename__icontains=word)
            | Q(camera_make__icontains=word)
            | Q(camera_model__icontains=word)
            | Q(lens_model__icontains=word)
        )
    if "status" in filters:
        lookups["status"] = filters["status"]
    for field in ("camera_make", "camera_model", "lens_model"):
        if field in filters:
            lookups[f"{field}__icontains"] = filters[field]
    if "iso_min" in filters:
        lookups["iso__gte"] = filters["iso_min"]
    if "iso_max" in filters:
        lookups["iso__lte"] = filters["iso_max"]
    if "taken_after" in filters:
        lookups["taken_at__gte"] = filters["taken_after"]
    if "taken_before" in filters:
        lookups["taken_at__lt"] = filters["taken_before"]
    if "updated_after" in filters:
        # Sync: changes in the order they happened, inclusive so that nothing changed at the
        # same instant as the last item seen is skipped (a client deduplicates by id).
        lookups["updated_at__gte"] = filters["updated_after"]
        order: tuple[str, ...] = ("updated_at", "id")
    else:
        order = (filters.get("ordering", DEFAULT_ORDERING), "-created_at", "id")
    return (
        Asset.objects.filter(search, owner=owner, **lookups)
        .prefetch_related("variants")
        .order_by(*order)
    )


def asset_field_values(*, owner: User, field: str, limit: int = 200) -> list[str]:
    """The distinct values of one text column across the owner's assets (filter suggestions)."""
    values = (
        Asset.objects.filter(owner=owner)
        .exclude(**{field: ""})
        .order_by(field)
        .values_list(field, flat=True)
        .distinct()
    )
    return list(values[:limit])


def asset_get(*, owner: User, asset_id: UUID | str) -> Asset:
    asset = Asset.objects.filter(owner=owner, pk=asset_id).prefetch_related("variants").first()
    if asset is None:
        raise Http404("No such asset.")
    return asset


def variant_get(*, asset: Asset, name: str) -> Variant:
    for variant in asset.variants.all():
        if variant.name == name:
            return variant
    raise Http404("No such variant.")


def user_storage_used(*, owner_id: int) -> int:
    """Bytes the owner's originals take, reserved direct uploads included (by declared
    size); duplicates, whose bytes were dropped, count nothing."""
    used = (
        Asset.objects.filter(owner_id=owner_id)
        .exclude(error_code=DUPLICATE)
        .aggregate(total=Sum("size"))["total"]
    )
    return int(used or 0)


def referenced_keys() -> tuple[set[str], set[str]]:
    """Object keys the records name: ``(expected, allowed)``.

    ``expected`` must exist (originals of completed assets, variants); ``allowed`` may
    exist without being expected (the incoming key and future original of an upload in
    progress). Together they are every key an object may legitimately have.
    """
    expected: set[str] = set(Variant.objects.values_list("storage_key", flat=True))
    allowed: set[str] = set()
    rows = Asset.objects.exclude(storage_key="").values_list("status", "storage_key", "upload_key")
    for status, storage_key, upload_key in rows.iterator(chunk_size=2000):
        if status == AssetStatus.UPLOADING:
            allowed.update(key for key in (storage_key, upload_key) if key)
        else:
            expected.add(storage_key)
    return expected, allowed


def rendition_jobs(*, asset: Asset) -> list[RenditionJob]:
    """The renditions being made for the asset, or that failed, since its last processing."""
    return list(
        RenditionJob.objects.filter(asset=asset, asset_task_id=asset.task_id).order_by("spec_key")
    )
