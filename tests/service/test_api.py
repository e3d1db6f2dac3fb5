"""The REST API in-process on PostgreSQL: uploads, listing, access control, errors."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from rawproc import storage
from rawproc.models import Asset, AssetStatus, Variant
from tests.fixtures.strip import strip_pixels
from tests.samples import FIXTURES
from tests.service.conftest import SMALL_RAW, fetch, process_now

pytestmark = pytest.mark.django_db


def upload(api: APIClient, path: Path = SMALL_RAW, name: str | None = None) -> Any:
    with path.open("rb") as fh:
        return api.post("/api/assets/", {"file": SimpleUploadedFile(name or path.name, fh.read())})


def test_upload_is_stored_and_queued_after_commit(
    api: APIClient, django_capture_on_commit_callbacks: Any, backend: str
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        answer = upload(api)
    assert answer.status_code == 202
    body = answer.json()
    assert body["status"] == "queued"
    assert answer["Location"] == body["url"]
    assert len(callbacks) == 1  # one job sent, once the row is committed
    asset = Asset.objects.get(pk=body["id"])
    assert asset.raw_format == "DNG"
    assert asset.storage_key.startswith(f"originals/{asset.owner_id}/{asset.pk}/")
    assert storage.read_head(asset.storage_key, 4) == SMALL_RAW.read_bytes()[:4]
    assert body["sha256"] == asset.sha256
    # hashed while the body streamed in: the hash of exactly the bytes sent
    assert asset.sha256 == hashlib.sha256(SMALL_RAW.read_bytes()).hexdigest()


def test_same_bytes_twice_return_the_existing_asset(api: APIClient, other_api: APIClient) -> None:
    first = upload(api).json()
    again = upload(api, name="renamed.dng")
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert upload(other_api).status_code == 202  # dedup is per owner
    assert Asset.objects.count() == 2


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 400, "empty_file"),
        (b"hello, this is plain text and not a photograph at all", 415, "unsupported_format"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, 415, "unsupported_format"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, 415, "unsupported_format"),
    ],
)
def test_bad_uploads_get_a_coded_error(
    api: APIClient, content: bytes, status: int, code: str
) -> None:
    answer = api.post("/api/assets/", {"file": SimpleUploadedFile("photo.NEF", content)})
    assert answer.status_code == status
    assert answer.json()["code"] == code
    assert Asset.objects.count() == 0


def test_missing_file_field(api: APIClient) -> None:
    answer = api.post("/api/assets/", {"other": "x"})
    assert (answer.status_code, answer.json()["code"]) == (400, "missing_file")


def test_json_body_is_refused_with_a_code(api: APIClient) -> None:
    answer = api.post("/api/assets/", {"file": "x"}, format="json")
    assert (answer.status_code, answer.json()["code"]) == (415, "unsupported_media_type")


def test_too_large_from_content_length_before_reading(api: APIClient, settings: Any) -> None:
    settings.RAWPROC_MAX_UPLOAD_BYTES = 1000
    answer = api.generic(
        "POST",
        "/api/assets/",
        data="",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10_000_000),
    )
    assert (answer.status_code, answer.json()["code"]) == (413, "file_too_large")


def test_too_large_while_streaming(api: APIClient, settings: Any) -> None:
    settings.RAWPROC_MAX_UPLOAD_BYTES = SMALL_RAW.stat().st_size - 1
    answer = upload(api)
    assert (answer.status_code, answer.json()["code"]) == (413, "file_too_large")


def test_authentication_is_required(db: None) -> None:
    answer = APIClient().get("/api/assets/")
    assert answer.status_code == 401
    assert answer.json()["code"] == "not_authenticated"
    bad = APIClient(HTTP_AUTHORIZATION="Token nope").get("/api/assets/")
    assert (bad.status_code, bad.json()["code"]) == (401, "authentication_failed")


def test_other_users_get_404_everywhere(api: APIClient, other_api: APIClient) -> None:
    asset_id = upload(api).json()["id"]
    process_now(asset_id)
    base = f"/api/assets/{asset_id}/"
    for method, url in [
        ("get", base),
        ("delete", base),
        ("get", f"{base}original/"),
        ("get", f"{base}variants/thumbnail/"),
        ("post", f"{base}reprocess/"),
        ("post", f"{base}complete/"),
    ]:
        answer = getattr(other_api, method)(url)
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), url
    assert other_api.get("/api/assets/").json()["count"] == 0
    assert Asset.objects.filter(pk=asset_id).exists()


def test_detail_has_metadata_and_signed_variants(
    api: APIClient, dng_factory: Callable[..., Path], backend: str
) -> None:
    asset_id = upload(api, dng_factory()).json()["id"]
    process_now(asset_id)
    body = api.get(f"/api/assets/{asset_id}/").json()
    assert body["status"] == "ready"
    assert body["camera_make"] == "NIKON CORPORATION"
    assert body["iso"] == 200
    assert body["taken_at"] == "2023-06-14T16:42:07Z"
    assert {v["name"] for v in body["variants"]} == {"thumbnail", "preview"}
    for variant in body["variants"]:
        assert variant["url"].startswith("http")
        assert variant["expires_at"].endswith("Z")
    redirect = api.get(f"/api/assets/{asset_id}/variants/thumbnail/?expires_in=30")
    assert redirect.status_code == 302
    status, content, _ = fetch(redirect["Location"])
    thumbnail = next(v for v in body["variants"] if v["name"] == "thumbnail")
    assert status == 200
    assert Image.open(io.BytesIO(content)).size == (thumbnail["width"], thumbnail["height"])
    # ``full`` is not configured: an alias, made on demand; an unknown name is a 404.
    assert api.get(f"/api/assets/{asset_id}/variants/full/").status_code == 202
    assert api.get(f"/api/assets/{asset_id}/variants/huge/").status_code == 404
    too_long = api.get(f"/api/assets/{asset_id}/?expires_in=999999")
    assert (too_long.status_code, too_long.json()["code"]) == (400, "validation_error")


def test_list_filters_and_ordering(api: APIClient, dng_factory: Callable[..., Path]) -> None:
    low = upload(api, dng_factory("low.dng", exif={"ISO": 100}, seed=1)).json()["id"]
    high = upload(
        api, dng_factory("high.dng", exif={"ISO": 3200, "Model": "NIKON Z 8"}, seed=2)
    ).json()["id"]
    queued = upload(api).json()["id"]
    process_now(low)
    process_now(high)

    def ids(query: str) -> list[str]:
        answer = api.get(f"/api/assets/?{query}")
        assert answer.status_code == 200, answer.json()
        return [a["id"] for a in answer.json()["results"]]

    assert ids("status=queued") == [queued]
    assert set(ids("status=ready")) == {low, high}
    assert ids("iso_min=1000") == [high]
    assert ids("iso_max=1000") == [low]
    assert ids("camera_model=nikon%20z%208") == [high]
    assert ids("camera_model=z%208") == [high]  # any part of the name, any case
    assert ids("camera_model=Z 9") == []
    assert ids("ordering=-iso&status=ready&camera_model=") == [high, low]
    assert ids("ordering=iso&status=ready") == [low, high]
    assert ids("taken_after=2023-06-14T00:00:00Z&taken_before=2023-06-15T00:00:00Z")
    assert ids("taken_after=2030-01-01T00:00:00Z") == []
    page = api.get("/api/assets/?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    bad = api.get("/api/assets/?iso_min=lots")
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_error")
    assert "iso_min" in bad.json()["fields"]
    for query, field, message in (
        ("iso_min=3200&iso_max=100", "iso_max", "The maximum ISO is below the minimum."),
        (
            "taken_after=2024-01-02T00:00:00Z&taken_before=2024-01-01T00:00:00Z",
            "taken_before",
            "The end date is before the start date.",
        ),
    ):
        wrong = api.get(f"/api/assets/?{query}")
        assert (wrong.status_code, wrong.json()["code"]) == (400, "validation_error")
        assert wrong.json()["fields"] == {field: [message]}
    assert ids("iso_min=3200&iso_max=3200") == [high]  # a one-value range is fine


def test_list_search_q(api: APIClient, dng_factory: Callable[..., Path]) -> None:
    """``q`` finds any part of the file name, camera maker, model or lens, in any case;
    several words must each be found in one of them."""
    nikon = upload(
        api,
        dng_factory(
            "DSC_0042.dng",
            exif={
                "Make": "NIKON CORPORATION",
                "Model": "NIKON Z 8",
                "LensModel": "NIKKOR Z 35mm f/1.8 S",
            },
            seed=1,
        ),
    ).json()["id"]
    canon = upload(
        api,
        dng_factory(
            "beach-holiday.dng",
            exif={"Make": "Canon", "Model": "Canon EOS R5", "LensModel": "RF24-70mm F2.8 L IS USM"},
            seed=2,
        ),
    ).json()["id"]
    process_now(nikon)
    process_now(canon)

    def ids(q: str, extra: str = "") -> set[str]:
        answer = api.get("/api/assets/", {"q": q, **dict([extra.split("=")] if extra else [])})
        assert answer.status_code == 200, answer.json()
        return {a["id"] for a in answer.json()["results"]}

    cases = {
        "dsc_00": {nikon},  # file name
        "HOLIDAY": {canon},
        "corporation": {nikon},  # maker
        "eos r": {canon},  # model, two words
        "z 8": {nikon},
        "nikkor": {nikon},  # lens
        "24-70": {canon},
        "mm": {nikon, canon},  # both lenses
        "nikon 35mm": {nikon},  # words found in different fields
        "canon 35mm": set(),
        "leica": set(),
        "   ": {nikon, canon},  # blank is no search
    }
    for q, expected in cases.items():
        assert ids(q) == expected, q
    assert ids("mm", "camera_model=eos") == {canon}  # combined with the other filters
    too_long = api.get("/api/assets/", {"q": "x" * 201})
    assert (too_long.status_code, too_long.json()["code"]) == (400, "validation_error")
    assert "q" in too_long.json()["fields"]


def test_reprocess_replaces_variants_and_deletes_old_objects(
    api: APIClient, dng_factory: Callable[..., Path]
) -> None:
    asset_id = upload(api, dng_factory()).json()["id"]
    process_now(asset_id)
    old_keys = set(Variant.objects.filter(asset_id=asset_id).values_list("storage_key", flat=True))
    answer = api.post(f"/api/assets/{asset_id}/reprocess/")
    assert (answer.status_code, answer.json()["status"]) == (202, "queued")
    assert len(answer.json()["variants"]) == 2  # the old ones stay until replaced
    process_now(asset_id)
    new_keys = set(Variant.objects.filter(asset_id=asset_id).values_list("storage_key", flat=True))
    assert len(new_keys) == 2 and not new_keys & old_keys
    assert all(storage.exists(key) for key in new_keys)
    assert not any(storage.exists(key) for key in old_keys)


def test_delete_removes_stored_objects(
    api: APIClient, dng_factory: Callable[..., Path], backend: str
) -> None:
    asset_id = upload(api, dng_factory()).json()["id"]
    asset = process_now(asset_id)
    keys = [asset.storage_key, *asset.variants.values_list("storage_key", flat=True)]
    assert all(storage.exists(key) for key in keys)
    assert api.delete(f"/api/assets/{asset_id}/").status_code == 204
    assert not any(storage.exists(key) for key in keys)
    assert api.get(f"/api/assets/{asset_id}/").status_code == 404


def test_direct_upload_on_file_storage(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    data = SMALL_RAW.read_bytes()
    created = api.post(
        "/api/uploads/",
        {"filename": "../x/leica.dng", "size": len(data), "content_type": "image/x-adobe-dng"},
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    asset_url = body["asset"]["url"]
    assert body["asset"]["original_filename"] == "leica.dng"
    early = api.post(body["complete_url"])
    assert (early.status_code, early.json()["code"]) == (409, "upload_incomplete")
    stored = APIClient().post(
        body["upload"]["url"], {"file": SimpleUploadedFile("leica.dng", data)}
    )
    assert stored.status_code == 204
    with django_capture_on_commit_callbacks() as callbacks:
        done = api.post(body["complete_url"])
    assert (done.status_code, done.json()["status"]) == (202, "queued")
    assert done.json()["url"] == asset_url
    assert len(callbacks) == 1
    assert api.post(body["complete_url"]).status_code == 200  # idempotent


def test_direct_upload_of_non_raw_is_refused_on_complete(api: APIClient, backend: str) -> None:
    data = b"just some text, not a RAW file, long enough to sniff"
    body = api.post("/api/uploads/", {"filename": "a.NEF", "size": len(data)}, format="json").json()
    asset = Asset.objects.get(pk=body["asset"]["id"])
    storage.save(asset.upload_key, data)
    answer = api.post(body["complete_url"])
    assert (answer.status_code, answer.json()["code"]) == (415, "unsupported_format")
    assert not Asset.objects.filter(pk=asset.pk).exists()
    # The refused object goes with its reservation.
    assert not storage.exists(asset.upload_key)
    assert not storage.exists(asset.storage_key)


def test_direct_upload_duplicate_is_marked_by_the_worker(api: APIClient, backend: str) -> None:
    existing = upload(api).json()["id"]
    data = SMALL_RAW.read_bytes()
    body = api.post(
        "/api/uploads/", {"filename": "again.dng", "size": len(data)}, format="json"
    ).json()
    asset = Asset.objects.get(pk=body["asset"]["id"])
    storage.save(asset.upload_key, io.BytesIO(data))
    answer = api.post(body["complete_url"])
    # complete no longer reads the bytes: the duplicate is found by the worker.
    assert (answer.status_code, answer.json()["status"]) == (202, "queued")
    process_now(str(asset.pk))
    detail = api.get(body["asset"]["url"]).json()
    assert detail["status"] == "failed"
    assert detail["error"]["code"] == "duplicate"
    assert detail["duplicate_of"] == existing
    assert detail["sha256"] is None
    assert not storage.exists(asset.storage_key)  # its copy of the bytes is dropped
    gone = api.get(f"{body['asset']['url']}original/")
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    again = api.post(f"{body['asset']['url']}reprocess/")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    assert Asset.objects.get(pk=existing).status == "queued"  # untouched


def test_upload_create_validates(api: APIClient, settings: Any) -> None:
    settings.RAWPROC_MAX_UPLOAD_BYTES = 1000
    too_big = api.post("/api/uploads/", {"filename": "a.NEF", "size": 5000}, format="json")
    assert (too_big.status_code, too_big.json()["code"]) == (413, "file_too_large")
    missing = api.post("/api/uploads/", {"size": 10}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (400, "validation_error")
    assert "filename" in missing.json()["fields"]


def test_health_reports_each_component(client: Any, settings: Any, tmp_path: Path) -> None:
    healthy = client.get("/api/health/")
    assert healthy.status_code == 200
    assert healthy.json()["checks"] == {
        "database": {"ok": True},
        "broker": {"ok": True},
        "storage": {"ok": True},
    }
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the storage folder should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker)},
        },
    }
    down = client.get("/api/health/")
    assert down.status_code == 503
    assert down.json()["checks"]["storage"]["ok"] is False
    assert down.json()["checks"]["database"]["ok"] is True


def test_schema_and_unknown_urls(client: Any) -> None:
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    assert "/api/assets/{asset_id}/variants/{name}/" in schema.json()["paths"]
    missing = client.get("/nowhere/")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_reprocess_of_unfinished_direct_upload_is_refused(api: APIClient) -> None:
    body = api.post("/api/uploads/", {"filename": "a.NEF", "size": 10}, format="json").json()
    answer = api.post(f"{body['asset']['url']}reprocess/")
    assert (answer.status_code, answer.json()["code"]) == (409, "invalid_state")
    assert Asset.objects.get(pk=body["asset"]["id"]).status == AssetStatus.UPLOADING


def test_failed_asset_keeps_its_metadata_and_is_found_by_its_camera(api: APIClient) -> None:
    """A file whose pixels cannot be decoded and that has no preview fails, described."""
    data = strip_pixels(
        (FIXTURES / "raw" / "pentax_k-3-ii_truncated.pef").read_bytes(), previews=True
    )
    created = api.post("/api/assets/", {"file": SimpleUploadedFile("stripped.pef", data)})
    asset = process_now(created.json()["id"])
    assert asset.status == AssetStatus.FAILED
    assert (asset.camera_model, asset.lens_model, asset.iso) == (
        "PENTAX K-3 II",
        "smc PENTAX-DA* 16-50mm F2.8 ED AL [IF] SDM",
        100,
    )
    assert asset.taken_at is not None and asset.taken_at.isoformat() == "2021-02-05T10:56:53+00:00"
    detail = api.get(f"/api/assets/{asset.pk}/").json()
    assert detail["status"] == "failed"
    assert detail["error"]["code"] == "corrupt_file"
    assert detail["metadata"]["camera_model"] == "PENTAX K-3 II"
    assert detail["metadata"]["shutter_count"] == 20897
    assert detail["metadata"]["exposure_time_display"] == "1/40"
    found = api.get("/api/assets/?camera_model=pentax%20k-3%20ii&status=failed").json()
    assert [a["id"] for a in found["results"]] == [str(asset.pk)]
