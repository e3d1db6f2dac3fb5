"""Bad input through both upload routes, then through processing.

Every file in the matrix goes through the multipart upload (``POST /api/assets/``) and the
direct upload (``POST /api/uploads/``, the signed upload form, ``complete``). Each either
gets a 4xx JSON error with a stable code at upload, or is accepted and then ends ``failed``
with a stable code, a message for people and a technical detail (or ``ready`` with a
warning when its embedded preview survives), and the files around it are processed as if
nothing had happened.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from rawproc import storage
from rawproc.models import Asset, AssetStatus
from tests.fixtures.badfiles import cut, flip, image_bytes
from tests.fixtures.dngmaker import make_bomb_dng, make_dng
from tests.fixtures.messages import not_human
from tests.samples import FIXTURES
from tests.service.conftest import fetch, process_now

pytestmark = pytest.mark.django_db

ROUTES = ["multipart", "direct"]
NEF = FIXTURES / "raw" / "nikon_d7100_truncated.nef"
KEY = re.compile(r"^originals/\d+/[0-9a-f-]{36}/[A-Za-z0-9._-]{1,100}$")


@pytest.fixture(scope="module")
def dng_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A decodable synthetic DNG without an embedded preview: once cut, nothing is left."""
    return make_dng(tmp_path_factory.mktemp("dng") / "s.dng", preview="none").read_bytes()


@pytest.fixture(scope="module")
def bomb_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_bomb_dng(tmp_path_factory.mktemp("bomb") / "bomb.dng").read_bytes()


def send(
    api: APIClient, route: str, filename: str, data: bytes, content_type: str | None = None
) -> Any:
    """Upload ``data`` by ``route``; the answer that decides (the first refusal, or the last)."""
    if route == "multipart":
        # None leaves the type to the test client (guessed from the name); the stub says str.
        upload = SimpleUploadedFile(filename, data, content_type=content_type)  # type: ignore[arg-type]
        return api.post("/api/assets/", {"file": upload})
    request: dict[str, Any] = {"filename": filename, "size": len(data)}
    if content_type is not None:
        request["content_type"] = content_type
    created = api.post("/api/uploads/", request, format="json")
    if created.status_code != 201:
        return created
    target = created.json()["upload"]
    if target["url"].startswith("http://testserver/"):  # file storage: served by the app
        stored: Any = APIClient().post(target["url"], {"file": SimpleUploadedFile("f", data)})
    else:  # S3: the storage service itself takes the form
        stored = requests.post(
            target["url"],
            data=target["fields"],
            files={target["file_field"]: ("f", data)},
            timeout=30,
        )
    assert stored.status_code in (200, 201, 204), stored.content
    return api.post(created.json()["complete_url"])


REFUSED: dict[str, tuple[str, bytes, int, str, str]] = {
    # case: (filename, bytes, status, code, words the message must contain)
    "zero bytes": ("empty.NEF", b"", 400, "empty_file", "empty"),
    "a few bytes": ("tiny.NEF", b"II*\x00\x08", 415, "unsupported_format", "tiny.NEF"),
    "random bytes": (
        "noise.NEF",
        random.Random(4).randbytes(20_000),
        415,
        "unsupported_format",
        "binary",
    ),
    "JPEG renamed .CR2": ("IMG_0001.CR2", image_bytes("JPEG"), 415, "unsupported_format", "JPEG"),
    "PNG": ("shot.NEF", image_bytes("PNG"), 415, "unsupported_format", "PNG"),
    "PDF": (
        "doc.DNG",
        b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 50,
        415,
        "unsupported_format",
        "PDF",
    ),
    "text": ("notes.ARW", b"my holiday notes\n" * 40, 415, "unsupported_format", "it is text"),
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_input_refused_at_upload(api: APIClient, route: str, case: str) -> None:
    filename, data, status, code, words = REFUSED[case]
    answer = send(api, route, filename, data)
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert body["code"] == code
    assert words in body["message"]
    assert not Asset.objects.exists()  # a refused direct upload is deleted, object and row


@pytest.mark.parametrize("route", ROUTES)
def test_bad_input_header_magic_flipped_is_refused(
    api: APIClient, route: str, dng_bytes: bytes
) -> None:
    answer = send(api, route, "flipped.dng", flip(dng_bytes, 0, 4, 1))
    assert (answer.status_code, answer.json()["code"]) == (415, "unsupported_format")


def test_bad_input_lying_content_type_is_ignored(
    api: APIClient, dng_factory: Callable[..., Path]
) -> None:
    """The sniffed bytes decide, whatever the client claims, on both routes."""
    jpeg = send(api, "multipart", "x.NEF", image_bytes("JPEG"), "image/x-nikon-nef")
    assert (jpeg.status_code, jpeg.json()["code"]) == (415, "unsupported_format")
    for route, seed, claimed in (("multipart", 1, "image/jpeg"), ("direct", 2, "text/html")):
        data = dng_factory(seed=seed).read_bytes()
        answer = send(api, route, "photo.jpg", data, claimed)
        assert answer.status_code == 202, answer.content
        assert (answer.json()["content_type"], answer.json()["raw_format"]) == (
            "image/x-adobe-dng",
            "DNG",
        )
        asset_id = answer.json()["id"]
        assert process_now(asset_id).status == AssetStatus.READY
        status, _, headers = fetch(api.get(f"/api/assets/{asset_id}/original/")["Location"])
        assert status == 200
        assert headers["Content-Type"] == "image/x-adobe-dng"
        assert headers["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize("route", ROUTES)
def test_bad_input_accepted_then_failed_or_degraded(
    api: APIClient,
    route: str,
    dng_bytes: bytes,
    bomb_bytes: bytes,
    dng_factory: Callable[..., Path],
) -> None:
    """Files with a RAW signature are accepted, then fail cleanly one by one; a good file
    processed before them and one after are unaffected."""
    nef = NEF.read_bytes()
    cases: dict[str, tuple[bytes, str]] = {
        # filename: (bytes, expected outcome: an error code or "degraded")
        "cut10.dng": (cut(dng_bytes, 0.1), "corrupt_file"),
        "cut50.dng": (cut(dng_bytes, 0.5), "corrupt_file"),
        "cut90.dng": (cut(dng_bytes, 0.9), "corrupt_file"),
        "header.dng": (flip(dng_bytes, 8, 200), "corrupt_file"),
        "bomb.dng": (bomb_bytes, "image_too_large"),
        # A real camera file cut short: its embedded previews survive.
        "cut10.NEF": (cut(nef, 0.1), "degraded"),
        "cut50.NEF": (cut(nef, 0.5), "degraded"),
        "cut90.NEF": (cut(nef, 0.9), "degraded"),
    }
    before = send(api, route, "before.dng", dng_factory(seed=10).read_bytes()).json()["id"]
    assert process_now(before).status == AssetStatus.READY
    before_keys = set(Asset.objects.get(pk=before).variants.values_list("storage_key", flat=True))

    for filename, (data, expected) in cases.items():
        answer = send(api, route, filename, data)
        assert answer.status_code == 202, (filename, answer.content)
        asset = process_now(answer.json()["id"])
        shown = api.get(f"/api/assets/{asset.pk}/").json()
        if expected == "degraded":
            assert (asset.status, asset.degraded) == (AssetStatus.READY, True), filename
            assert asset.camera_model == "NIKON D7100"
            assert asset.variants.count() == 2
            [warning] = shown["warnings"]
            assert warning["code"] == "sensor_data_cut_off", filename
            assert not_human(warning["message"]) is None
            assert warning == asset.warnings[0]
        else:
            assert asset.status == AssetStatus.FAILED, filename
            assert asset.error_code == expected, (filename, asset.error_message)
            assert not_human(asset.error_message) is None
            assert asset.error_detail
            assert not asset.variants.exists()
            assert shown["error"] == {
                "code": expected,
                "message": asset.error_message,
                "detail": asset.error_detail,
            }

    after = send(api, route, "after.dng", dng_factory(seed=11).read_bytes()).json()["id"]
    assert process_now(after).status == AssetStatus.READY
    still = Asset.objects.get(pk=before)
    assert still.status == AssetStatus.READY
    assert set(still.variants.values_list("storage_key", flat=True)) == before_keys
    assert all(storage.exists(key) for key in before_keys)


NAMES = {
    # given name: the name shown and downloaded
    "../../../etc/passwd.dng": "passwd.dng",
    "..\\..\\windows\\system.ini.dng": "system.ini.dng",
    "bell\x07esc\x1b[31mred\x7fdel\ttab.dng": "bellesc[31mreddeltab.dng",
    "写真_東京タワー.dng": "写真_東京タワー.dng",
    "Фотография ночью.dng": "Фотография ночью.dng",
    "صورة.dng": "صورة.dng",
    "x" * 300 + ".dng": "x" * 251 + ".dng",
}


def _download_name(disposition: str) -> str:
    """The file name from a Content-Disposition header (RFC 6266, UTF-8 form preferred)."""
    extended = re.search(r"filename\*=utf-8''([^;]+)", disposition, re.IGNORECASE)
    if extended:
        return unquote(extended.group(1))
    plain = re.search(r'filename="([^"]*)"', disposition)
    assert plain, disposition
    return plain.group(1)


@pytest.mark.parametrize("route", ROUTES)
def test_bad_input_hostile_filenames_are_stored_safely(
    api: APIClient, route: str, backend: str, dng_factory: Callable[..., Path]
) -> None:
    for seed, (given, shown) in enumerate(NAMES.items()):
        answer = send(api, route, given, dng_factory(seed=seed).read_bytes())
        assert answer.status_code == 202, (given, answer.content)
        asset = Asset.objects.get(pk=answer.json()["id"])
        assert answer.json()["original_filename"] == shown
        assert KEY.match(asset.storage_key), asset.storage_key
        assert storage.exists(asset.storage_key)
        status, content, headers = fetch(api.get(f"/api/assets/{asset.pk}/original/")["Location"])
        assert status == 200
        assert content[:4] == b"II*\x00"
        assert _download_name(headers["Content-Disposition"]) == shown
        assert process_now(str(asset.pk)).status == AssetStatus.READY


def test_bad_input_nul_in_filename(api: APIClient, dng_factory: Callable[..., Path]) -> None:
    """A multipart name loses its NUL; a JSON name with one is refused as invalid."""
    data = dng_factory().read_bytes()
    multipart = send(api, "multipart", "a\x00b.dng", data)
    assert (multipart.status_code, multipart.json()["original_filename"]) == (202, "ab.dng")
    direct = api.post("/api/uploads/", {"filename": "a\x00b.dng", "size": 10}, format="json")
    assert (direct.status_code, direct.json()["code"]) == (400, "validation_error")
    assert "filename" in direct.json()["fields"]


def test_bad_input_direct_upload_lies_about_its_size(api: APIClient, settings: Any) -> None:
    """The signed upload form takes exactly the declared bytes, in a ``file`` field."""
    settings.RAWPROC_MAX_UPLOAD_BYTES = 10_000
    empty = api.post("/api/uploads/", {"filename": "a.NEF", "size": 0}, format="json")
    assert (empty.status_code, empty.json()["code"]) == (400, "empty_file")
    too_big = api.post("/api/uploads/", {"filename": "a.NEF", "size": 10_001}, format="json")
    assert (too_big.status_code, too_big.json()["code"]) == (413, "file_too_large")

    body = api.post("/api/uploads/", {"filename": "a.NEF", "size": 1000}, format="json").json()
    url = body["upload"]["url"]
    for data, status, code in (
        (b"\0" * 1500, 413, "file_too_large"),
        (b"\0" * 500, 400, "size_mismatch"),
    ):
        answer = APIClient().post(url, {"file": SimpleUploadedFile("a.NEF", data)})
        assert (answer.status_code, answer.json()["code"]) == (status, code)
    missing = APIClient().post(url, {"other": "x"})
    assert (missing.status_code, missing.json()["code"]) == (400, "missing_file")
    never = api.post(body["complete_url"])
    assert (never.status_code, never.json()["code"]) == (409, "upload_incomplete")
