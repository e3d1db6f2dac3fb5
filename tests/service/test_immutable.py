"""Originals are immutable once completed, on the embedded storage and on S3 (SeaweedFS).

Each test plays the client who keeps the upload form after completing it, or the one who
completes twice at once, and checks what the app answers and what the worker reads.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from rawproc import storage
from rawproc.models import Asset, AssetStatus
from rawproc.services.storage_audit import storage_sweep
from rawproc.services.uploads import upload_complete
from tests.service.conftest import SMALL_RAW, fetch, post_form, process_now, reserve

pytestmark = pytest.mark.django_db

DATA = SMALL_RAW.read_bytes()
# Same size as the real file, other bytes: what an attacker would try to swap in.
FAKE = b"<html>" + b"x" * (len(DATA) - 13) + b"</html>"


def _start(api: APIClient) -> dict[str, Any]:
    body = api.post(
        "/api/uploads/",
        {"filename": "leica.dng", "size": len(DATA), "content_type": "image/x-adobe-dng"},
        format="json",
    ).json()
    return dict(body)


def _target(body: dict[str, Any]) -> storage.UploadTarget:
    upload = body["upload"]
    url = upload["url"].removeprefix("http://testserver")
    return storage.UploadTarget("POST", url, upload["fields"], upload["expires_at"], len(DATA))


def _original(api: APIClient, body: dict[str, Any]) -> bytes:
    redirect = api.get(f"{body['asset']['url']}original/")
    assert redirect.status_code == 302
    status, content, _ = fetch(redirect["Location"])
    assert status == 200
    return content


def test_embedded_grant_writes_once(api: APIClient) -> None:
    body = _start(api)
    target = _target(body)
    assert post_form(target, DATA) == 204
    again = APIClient().post(target.url, {"file": _file(FAKE)})
    assert (again.status_code, again.json()["code"]) == (409, "upload_already_written")
    assert api.post(body["complete_url"]).status_code == 202
    asset = process_now(body["asset"]["id"])
    assert asset.status == AssetStatus.READY
    # After completion and processing: every rewrite attempt is refused, nothing changes.
    after = APIClient().post(target.url, {"file": _file(FAKE)})
    assert (after.status_code, after.json()["code"]) == (409, "upload_already_written")
    assert _original(api, body) == DATA
    assert asset.sha256 is not None and api.get(body["asset"]["url"]).json()["sha256"]
    # Deleted: the grant names a reservation that no longer exists.
    assert api.delete(body["asset"]["url"]).status_code == 204
    gone = APIClient().post(target.url, {"file": _file(DATA)})
    assert (gone.status_code, gone.json()["code"]) == (410, "upload_gone")
    assert list(storage.list_objects("incoming/")) == []
    assert list(storage.list_objects("originals/")) == []


def _file(data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("photo.NEF", data, "image/x-nikon-nef")


def test_s3_rewrite_after_completion_reaches_only_the_dead_incoming_key(
    api: APIClient, s3_bucket: str
) -> None:
    body = _start(api)
    target = _target(body)
    asset = Asset.objects.get(pk=body["asset"]["id"])
    assert target.fields["key"] == asset.upload_key
    assert asset.upload_key.startswith(f"incoming/{asset.pk}/")
    assert post_form(target, DATA) == 204
    assert api.post(body["complete_url"]).status_code == 202
    asset.refresh_from_db()
    # Moved by a server-side copy: the original key has the bytes, the incoming key none.
    assert not storage.exists(asset.upload_key)
    assert storage.stat(asset.storage_key).etag == asset.original_etag
    assert process_now(str(asset.pk)).status == AssetStatus.READY
    # S3 cannot revoke a presigned POST: the old form still writes, but only its own key.
    assert post_form(target, FAKE) == 204
    assert storage.exists(asset.upload_key)
    assert _original(api, body) == DATA
    assert api.post(f"{body['asset']['url']}reprocess/").status_code == 202
    assert process_now(str(asset.pk)).status == AssetStatus.READY
    # The field naming the key cannot be pointed at the original: the signature breaks.
    forged = {**target.fields, "key": asset.storage_key}
    assert post_form(target, FAKE, forged) in (0, 400, 403)
    assert _original(api, body) == DATA
    # Nothing reads the dead incoming object; the sweep removes it.
    assert storage_sweep() == {"expired_uploads": 0, "incoming_removed": 1}
    assert not storage.exists(asset.upload_key)


def test_refused_completion_removes_the_object_and_the_grant(api: APIClient, backend: str) -> None:
    body = _start(api)
    target = _target(body)
    asset = Asset.objects.get(pk=body["asset"]["id"])
    assert post_form(target, FAKE) == 204
    refused = api.post(body["complete_url"])
    assert (refused.status_code, refused.json()["code"]) == (415, "unsupported_format")
    assert not storage.exists(asset.upload_key)
    assert not Asset.objects.filter(pk=asset.pk).exists()
    if backend == "file":
        again = APIClient().post(target.url, {"file": _file(FAKE)})
        assert (again.status_code, again.json()["code"]) == (410, "upload_gone")
    else:
        assert post_form(target, FAKE) == 204  # a dead key on S3 ...
        assert storage_sweep()["incoming_removed"] == 1  # ... that the sweep removes
    assert list(storage.list_objects("incoming/")) == []


@pytest.mark.parametrize("how", ["same_size", "other_size"])
def test_worker_refuses_an_original_changed_after_completion(
    api: APIClient, backend: str, how: str
) -> None:
    body = _start(api)
    assert post_form(_target(body), DATA) == 204
    assert api.post(body["complete_url"]).status_code == 202
    asset = Asset.objects.get(pk=body["asset"]["id"])
    # Only the app's own credentials can do this (a bug, an operator, a restore).
    storage.save(asset.storage_key, FAKE if how == "same_size" else DATA + b"tail")
    failed = process_now(str(asset.pk))
    assert failed.status == AssetStatus.FAILED
    assert failed.error_code == "original_changed"
    assert failed.variants.count() == 0 and failed.sha256 is None


def test_worker_refuses_a_rewritten_multipart_original(api: APIClient, backend: str) -> None:
    answer = api.post("/api/assets/", {"file": _file(DATA)})
    asset = Asset.objects.get(pk=answer.json()["id"])
    storage.save(asset.storage_key, FAKE)
    assert process_now(str(asset.pk)).error_code == "original_changed"


@pytest.mark.django_db(transaction=True)
def test_concurrent_completions_queue_once(
    user: User, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    assert connection.vendor == "postgresql"
    sent: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(asset_id: str, task_id: str) -> None:
        with lock:
            sent.append((asset_id, task_id))

    # The broker is not under test here: each job that would be sent is recorded.
    monkeypatch.setattr("rawproc.services.processing._send", record)
    asset, _ = reserve(user, len(DATA), "leica.dng")
    storage.save(asset.upload_key, DATA)
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    errors: list[BaseException] = []

    def complete() -> None:
        try:
            barrier.wait()
            _, queued = upload_complete(asset=Asset.objects.get(pk=asset.pk))
            with lock:
                results.append(queued)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=complete) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert not errors, errors
    assert sorted(results) == [False] * (threads - 1) + [True]
    final = Asset.objects.get(pk=asset.pk)
    assert sent == [(str(asset.pk), final.task_id)]
    assert final.status == AssetStatus.QUEUED
    assert storage.stat(final.storage_key).size == len(DATA)


def test_complete_after_a_lost_commit_adopts_the_moved_object(user: User, backend: str) -> None:
    """A completion that moved the object but never committed leaves it at the original key:
    the next completion finds it there."""
    asset, _ = reserve(user, len(DATA), "leica.dng")
    storage.save(asset.upload_key, DATA)
    storage.move(asset.upload_key, asset.storage_key)
    done, queued = upload_complete(asset=asset)
    assert queued and done.status == AssetStatus.QUEUED
    assert done.original_etag == storage.stat(asset.storage_key).etag


def test_upload_key_is_unguessable_and_per_grant(user: User) -> None:
    first, _ = reserve(user, 10)
    second, _ = reserve(user, 10)
    assert first.upload_key != second.upload_key
    assert len(first.upload_key.rsplit("/", 1)[-1]) >= 24
