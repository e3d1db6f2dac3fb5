"""The processing service: idempotence, superseded jobs, crashes, stale sweep, failures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from harness.processes import free_ports
from harness.seaweedfs import SeaweedFS
from rawproc import storage
from rawproc.models import Asset, AssetStatus
from rawproc.services import processing
from rawproc.services.assets import asset_create
from rawproc.services.processing import (
    _taken_at,
    asset_process,
    asset_reprocess,
    asset_requeue_stale,
)
from tests.fixtures.messages import not_human
from tests.service.conftest import s3_storage_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_asset(user: User, dng_factory: Callable[..., Path]) -> Callable[..., Asset]:
    def make(content: bytes | None = None, name: str = "photo.dng", seed: int = 0) -> Asset:
        data = content if content is not None else dng_factory(seed=seed).read_bytes()
        asset, created = asset_create(owner=user, file=SimpleUploadedFile(name, data))
        assert created
        return asset

    return make


def reload(asset: Asset) -> Asset:
    return Asset.objects.get(pk=asset.pk)


def test_processing_is_idempotent(make_asset: Callable[..., Asset]) -> None:
    asset = make_asset()
    asset_process(asset_id=str(asset.pk), task_id=asset.task_id)
    ready = reload(asset)
    assert ready.status == AssetStatus.READY
    assert ready.attempts == 1
    assert set(ready.timings) >= {"download", "upload", "total"}
    keys = set(ready.variants.values_list("storage_key", flat=True))
    asset_process(asset_id=str(asset.pk), task_id=asset.task_id)  # a duplicate delivery
    assert set(reload(asset).variants.values_list("storage_key", flat=True)) == keys
    assert reload(asset).attempts == 1


def test_a_superseded_job_does_nothing(make_asset: Callable[..., Asset]) -> None:
    asset = make_asset()
    stale_task = asset.task_id
    asset_reprocess(asset=asset)
    asset_process(asset_id=str(asset.pk), task_id=stale_task)
    assert reload(asset).status == AssetStatus.QUEUED
    assert reload(asset).attempts == 0


def test_bad_input_fails_for_good(make_asset: Callable[..., Asset]) -> None:
    # A TIFF-RAW signature followed by garbage: accepted at upload, refused by the engine.
    asset = make_asset(b"II*\x00\x08\x00\x00\x00" + bytes(range(256)) * 40, name="broken.NEF")
    asset_process(asset_id=str(asset.pk), task_id=asset.task_id)
    failed = reload(asset)
    assert failed.status == AssetStatus.FAILED
    assert failed.error_code in ("corrupt_file", "unsupported_format")
    assert not_human(failed.error_message) is None
    assert failed.error_detail
    assert not failed.variants.exists()


def test_a_run_that_never_finished_counts_as_a_crash(
    make_asset: Callable[..., Asset], settings: Any
) -> None:
    settings.RAWPROC_MAX_CRASHES = 2
    asset = make_asset()
    # The first delivery started and its worker died: the row still says processing.
    Asset.objects.filter(pk=asset.pk).update(status=AssetStatus.PROCESSING, attempts=1)
    asset_process(asset_id=str(asset.pk), task_id=asset.task_id)  # redelivered
    recovered = reload(asset)
    assert (recovered.status, recovered.crashes, recovered.attempts) == ("ready", 1, 2)

    other = make_asset(seed=7)
    Asset.objects.filter(pk=other.pk).update(status=AssetStatus.PROCESSING, crashes=1)
    asset_process(asset_id=str(other.pk), task_id=other.task_id)
    crashed = reload(other)
    assert (crashed.status, crashed.error_code) == ("failed", "decoder_crashed")


def test_stale_sweep_requeues_lost_jobs_and_fails_repeat_crashers(
    make_asset: Callable[..., Asset], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RAWPROC_MAX_CRASHES = 2
    long_ago = timezone.now() - timedelta(hours=2)
    lost = make_asset(seed=1)
    Asset.objects.filter(pk=lost.pk).update(queued_at=long_ago)
    dead = make_asset(seed=2)
    Asset.objects.filter(pk=dead.pk).update(status=AssetStatus.PROCESSING, started_at=long_ago)
    crasher = make_asset(seed=3)
    Asset.objects.filter(pk=crasher.pk).update(
        status=AssetStatus.PROCESSING, started_at=long_ago, crashes=1
    )
    fresh = make_asset(seed=4)

    with django_capture_on_commit_callbacks() as sent:
        assert asset_requeue_stale() == 3
    assert len(sent) == 2
    for requeued, old in ((lost, lost.task_id), (dead, dead.task_id)):
        now = reload(requeued)
        assert now.status == AssetStatus.QUEUED and now.task_id != old
    assert reload(dead).crashes == 1
    assert reload(crasher).error_code == "decoder_crashed"
    assert reload(fresh).task_id == fresh.task_id
    asset_process(asset_id=str(lost.pk), task_id=lost.task_id)  # the old message, if it shows up
    assert reload(lost).status == AssetStatus.QUEUED


@pytest.fixture
def storage_down(settings: Any, seaweedfs: SeaweedFS) -> None:
    """S3 settings pointing at a port where nothing listens."""
    (port,) = free_ports(1)
    options = s3_storage_settings(seaweedfs, "unreachable")
    options["OPTIONS"]["endpoint_url"] = f"http://127.0.0.1:{port}"
    settings.STORAGES = {**settings.STORAGES, "default": options}


def test_storage_outage_releases_the_job_for_a_retry(
    make_asset: Callable[..., Asset], request: pytest.FixtureRequest
) -> None:
    asset = make_asset()
    request.getfixturevalue("storage_down")
    with pytest.raises(storage.StorageUnavailable):
        asset_process(asset_id=str(asset.pk), task_id=asset.task_id)
    assert reload(asset).status == AssetStatus.QUEUED
    asset_process(asset_id=str(asset.pk), task_id=asset.task_id, final_attempt=True)
    failed = reload(asset)
    assert (failed.status, failed.error_code) == ("failed", "storage_unavailable")


def test_missing_original_fails_the_asset(make_asset: Callable[..., Asset]) -> None:
    asset = make_asset()
    storage.delete(asset.storage_key)
    asset_process(asset_id=str(asset.pk), task_id=asset.task_id)
    assert reload(asset).error_code == "original_missing"


def test_an_unexpected_exception_fails_at_once_and_removes_what_the_run_wrote(
    make_asset: Callable[..., Asset], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect after the first rendition was stored (here: storing the second one raises
    an error nobody expects): ``internal_error`` at once, and the stored rendition goes."""
    asset = make_asset()
    real_save = storage.save
    saved: list[str] = []

    def save_once(key: str, *args: Any, **kwargs: Any) -> None:
        if saved:
            raise ZeroDivisionError("division by zero")
        real_save(key, *args, **kwargs)
        saved.append(key)

    monkeypatch.setattr(storage, "save", save_once)
    asset_process(asset_id=str(asset.pk), task_id=asset.task_id)  # does not raise
    failed = reload(asset)
    assert (failed.status, failed.error_code) == ("failed", "internal_error")
    assert not_human(failed.error_message) is None
    assert failed.error_detail == "ZeroDivisionError: division by zero"
    assert len(saved) == 1 and not storage.exists(saved[0])
    assert not failed.variants.exists()


def test_memory_error_is_retried_then_fails_out_of_memory(
    make_asset: Callable[..., Asset], monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = make_asset()

    def out_of_memory(*args: Any, **kwargs: Any) -> None:
        raise MemoryError

    monkeypatch.setattr(processing, "decode", out_of_memory)
    with pytest.raises(MemoryError):
        asset_process(asset_id=str(asset.pk), task_id=asset.task_id)
    assert reload(asset).status == AssetStatus.QUEUED  # handed back for the task's retry
    asset_process(asset_id=str(asset.pk), task_id=asset.task_id, final_attempt=True)
    failed = reload(asset)
    assert (failed.status, failed.error_code) == ("failed", "out_of_memory")
    assert not_human(failed.error_message) is None
    assert failed.error_detail == "MemoryError"
    assert failed.attempts == 2


def test_memory_error_is_one_the_task_retries() -> None:
    from rawproc.tasks import process_asset

    assert MemoryError in getattr(process_asset, "autoretry_for", ())


@pytest.mark.parametrize(
    ("time_zone", "recorded", "stored"),
    [
        ("UTC", "2013-09-03T09:45:16.40+05:30", "2013-09-03T04:15:16.400000+00:00"),
        ("Europe/Paris", "2013-09-03T09:45:16.40+05:30", "2013-09-03T04:15:16.400000+00:00"),
        ("UTC", "2021-02-05T10:56:53", "2021-02-05T10:56:53+00:00"),
        ("Europe/Paris", "2021-02-05T10:56:53", "2021-02-05T09:56:53+00:00"),
        ("Europe/Paris", "not a date", None),
    ],
)
def test_taken_at_column_keeps_a_zone_and_reads_local_time_in_the_home_zone(
    settings: Any, time_zone: str, recorded: str, stored: str | None
) -> None:
    settings.TIME_ZONE = time_zone
    value = _taken_at(recorded)
    assert (value.astimezone(UTC).isoformat() if value else None) == stored
