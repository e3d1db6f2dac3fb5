"""Nothing orphaned, nothing over quota: the upload TTL sweep, the storage audit and its
command on a seeded store (file storage and SeaweedFS), and the per-user storage quota."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from rawproc import storage
from rawproc.cli import main
from rawproc.models import Asset, Variant
from rawproc.selectors import user_storage_used
from rawproc.services.processing import asset_process
from rawproc.services.storage_audit import storage_audit, storage_sweep
from tests.service.conftest import SMALL_RAW, post_form, process_now, reserve

pytestmark = pytest.mark.django_db


def _upload(api: APIClient, path: Path) -> Any:
    return api.post("/api/assets/", {"file": SimpleUploadedFile(path.name, path.read_bytes())})


def _processed(api: APIClient, path: Path) -> Asset:
    return process_now(_upload(api, path).json()["id"])


def test_abandoned_uploads_expire_with_their_objects(
    user: User, settings: Any, backend: str
) -> None:
    settings.RAWPROC_UPLOAD_TTL_SECONDS = 3600
    old, old_target = reserve(user, 100)
    assert post_form(old_target, b"x" * 100) in (200, 201, 204)
    fresh, fresh_target = reserve(user, 100)
    assert post_form(fresh_target, b"y" * 100) in (200, 201, 204)
    Asset.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert storage_sweep() == {"expired_uploads": 1, "incoming_removed": 0}
    assert not Asset.objects.filter(pk=old.pk).exists()
    assert not storage.exists(old.upload_key)
    assert Asset.objects.filter(pk=fresh.pk).exists()
    assert storage.exists(fresh.upload_key)


ORPHANS = {
    "originals/": ["originals/9/0000-lost/photo.NEF", "originals/9/0001-lost/other.CR2"],
    "renditions/": ["renditions/0002-lost/thumbnail-v1.jpg", "renditions/0003-lost/preview.webp"],
    "incoming/": ["incoming/0004-lost/abc", "incoming/0005-lost/def"],
}


def _audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["storage-audit", "--json", "--min-age", "0", *args])
    return code, dict(json.loads(capsys.readouterr().out))


def test_seeded_audit_finds_and_removes_exactly_the_orphans(
    api: APIClient,
    user: User,
    dng_factory: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    backend: str,
) -> None:
    ready = [_processed(api, dng_factory(f"p{seed}.dng", seed=seed)) for seed in (1, 2)]
    pending, target = reserve(user, 10)
    assert post_form(target, b"z" * 10) in (200, 201, 204)
    referenced = [asset.storage_key for asset in ready] + [pending.upload_key]
    referenced += list(Variant.objects.values_list("storage_key", flat=True))
    assert len(referenced) == 2 + 1 + 4
    assert all(storage.exists(key) for key in referenced)
    code, clean = _audit(capsys)
    assert (code, clean["orphans"], clean["missing"], clean["clean"]) == (0, 0, 0, True)

    seeded = [key for keys in ORPHANS.values() for key in keys]
    for key in seeded:
        storage.save(key, b"left behind")
    lost_variant = Variant.objects.filter(asset=ready[0]).first()
    assert lost_variant is not None
    storage.delete(lost_variant.storage_key)

    # Fresh objects are never orphans for the periodic audit (a run may not have committed).
    assert storage_audit().orphans == 0
    code, found = _audit(capsys)
    assert code == 1
    assert found["orphans"] == len(seeded) == 6
    assert sorted(found["orphan_keys"]) == sorted(seeded)
    assert found["orphans_by_prefix"] == {prefix: 2 for prefix in ORPHANS}
    assert (found["missing"], found["missing_keys"]) == (1, [lost_variant.storage_key])
    assert found["orphans_removed"] == 0
    assert all(storage.exists(key) for key in seeded)

    code, removed = _audit(capsys, "--delete")
    assert (code, removed["orphans"], removed["orphans_removed"]) == (1, 6, 6)
    assert not any(storage.exists(key) for key in seeded)
    kept = [key for key in referenced if key != lost_variant.storage_key]
    assert all(storage.exists(key) for key in kept)

    code, after = _audit(capsys)
    assert (after["orphans"], after["missing"]) == (0, 1)
    assert main(["storage-audit", "--min-age", "0"]) == 1
    assert "missing:  1 records" in capsys.readouterr().out


def test_quota_counts_originals_and_reservations(
    api: APIClient,
    other_api: APIClient,
    user: User,
    dng_factory: Callable[..., Path],
    settings: Any,
) -> None:
    first, second = dng_factory("a.dng", seed=1), dng_factory("b.dng", seed=2)
    size = first.stat().st_size
    settings.RAWPROC_USER_QUOTA_BYTES = size + size // 2
    assert _upload(api, first).status_code == 202
    assert user_storage_used(owner_id=user.pk) == size
    over = _upload(api, second)
    assert over.status_code == 413
    assert over.json()["code"] == "quota_exceeded"
    assert set(over.json()) == {"code", "message"}
    assert not storage.exists(f"originals/{user.pk}/")  # a folder is not an object
    assert len(list(storage.list_objects(f"originals/{user.pk}/"))) == 1  # refused: not kept
    assert Asset.objects.filter(owner=user).count() == 1
    assert _upload(api, first).status_code == 200  # the same bytes again cost nothing
    grant = api.post("/api/uploads/", {"filename": "c.NEF", "size": size}, format="json")
    assert (grant.status_code, grant.json()["code"]) == (413, "quota_exceeded")
    small = api.post("/api/uploads/", {"filename": "c.NEF", "size": size // 4}, format="json")
    assert small.status_code == 201  # a reservation counts by its declared size ...
    assert user_storage_used(owner_id=user.pk) == size + size // 4
    third = api.post("/api/uploads/", {"filename": "d.NEF", "size": size // 2}, format="json")
    assert (third.status_code, third.json()["code"]) == (413, "quota_exceeded")
    assert _upload(other_api, second).status_code == 202  # quotas are per user
    assert api.delete(small.json()["asset"]["url"]).status_code == 204
    settings.RAWPROC_USER_QUOTA_BYTES = 0  # off
    assert _upload(api, second).status_code == 202


def test_duplicates_do_not_count_against_the_quota(api: APIClient, user: User) -> None:
    data = SMALL_RAW.read_bytes()
    assert api.post("/api/assets/", {"file": SimpleUploadedFile("a.dng", data)}).status_code == 202
    asset, target = reserve(user, len(data), "again.dng")
    assert post_form(target, data) in (200, 201, 204)
    assert api.post(f"/api/assets/{asset.pk}/complete/").status_code == 202
    asset.refresh_from_db()
    asset_process(asset_id=str(asset.pk), task_id=asset.task_id)
    asset.refresh_from_db()
    assert asset.error_code == "duplicate"
    assert user_storage_used(owner_id=user.pk) == len(data)
