"""Light, incremental sync: thumbhash placeholders, list items without the raw EXIF map,
``updated_after``, ``ETag``/``304``, byte ranges on file downloads, and CORS."""

from __future__ import annotations

import base64
import io
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import thumbhash
from django.test import Client
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from rest_framework.test import APIClient

from rawproc import storage
from rawproc.api.conditional import assets_etag
from rawproc.api.ranges import ByteRange, Unsatisfiable, parse_range
from rawproc.models import Asset
from rawproc.services.placeholders import thumbhash_of
from tests.samples import FIXTURES
from tests.service.conftest import SMALL_RAW, fetch, process_now
from tests.service.test_api import upload

pytestmark = pytest.mark.django_db

RAW_FILES = sorted(p for p in (FIXTURES / "raw").iterdir() if p.suffix.lower() != ".md")


def ready_asset(api: APIClient, path: Path = SMALL_RAW) -> dict[str, Any]:
    body = upload(api, path).json()
    process_now(body["id"])
    return dict(api.get(body["url"]).json())


# --- placeholders -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(320, 213), (213, 320), (320, 320), (100, 7), (1, 1)])
def test_thumbhash_keeps_the_aspect_ratio_and_the_colour(size: tuple[int, int]) -> None:
    image = Image.new("RGB", size, (200, 40, 30))
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", quality=90)
    packed = base64.b64decode(thumbhash_of(encoded.getvalue()))
    ratio = thumbhash.thumb_hash_to_approximate_aspect_ratio(packed)
    if min(size) >= 50:
        assert ratio == pytest.approx(size[0] / size[1], rel=0.15)
    r, g, b, a = thumbhash.thumb_hash_to_average_rgba(packed)
    assert (round(r * 255), round(g * 255), round(b * 255)) == pytest.approx((200, 40, 30), abs=12)
    assert a == pytest.approx(1.0)


def test_ready_assets_carry_a_thumbhash_of_their_thumbnail(api: APIClient) -> None:
    asset = ready_asset(api)
    assert asset["status"] == "ready"
    packed = base64.b64decode(asset["thumbhash"], validate=True)
    width, height, rgba = thumbhash.thumb_hash_to_rgba(packed)
    assert len(rgba) == width * height * 4
    thumb = next(v for v in asset["variants"] if v["name"] == "thumbnail")
    ratio = thumbhash.thumb_hash_to_approximate_aspect_ratio(packed)
    assert ratio == pytest.approx(thumb["width"] / thumb["height"], rel=0.15)
    listed = api.get("/api/assets/").json()["results"][0]
    assert listed["thumbhash"] == asset["thumbhash"]


def test_an_asset_not_ready_has_no_thumbhash(api: APIClient) -> None:
    assert upload(api).json()["thumbhash"] is None


# --- light list -------------------------------------------------------------------------


@pytest.mark.parametrize("path", RAW_FILES, ids=lambda p: p.name)
def test_list_items_leave_out_only_the_raw_exif_map(api: APIClient, path: Path) -> None:
    detail = ready_asset(api, path)
    item = api.get("/api/assets/").json()["results"][0]
    assert item["id"] == detail["id"]
    full = dict(detail["metadata"])
    full.pop("exif", None)
    assert item["metadata"] == full
    assert "exif" not in item["metadata"]
    same = ("id", "status", "camera_make", "camera_model", "iso", "taken_at", "thumbhash")
    assert {k: item[k] for k in same} == {k: detail[k] for k in same}


# --- updated_after ----------------------------------------------------------------------


def test_updated_after_returns_the_changes_oldest_first(api: APIClient, dng_factory: Any) -> None:
    ids = [upload(api, dng_factory(f"p{seed}.dng", seed=seed)).json()["id"] for seed in range(4)]
    for asset_id in ids:
        process_now(asset_id)
        time.sleep(0.01)
    marks = {a.pk: a.updated_at for a in Asset.objects.all()}
    since = marks[Asset.objects.get(pk=ids[1]).pk]
    answer = api.get("/api/assets/", {"updated_after": since.isoformat()})
    assert answer.status_code == 200
    listed = [item["id"] for item in answer.json()["results"]]
    assert listed == ids[1:]  # inclusive, in the order of the changes
    # A change moves an asset to the end of the sync order.
    api.post(f"/api/assets/{ids[0]}/reprocess/")
    again = api.get("/api/assets/", {"updated_after": since.isoformat()}).json()["results"]
    assert [item["id"] for item in again] == [*ids[1:], ids[0]]
    later = timezone.now() + timedelta(minutes=1)
    assert api.get("/api/assets/", {"updated_after": later.isoformat()}).json()["count"] == 0


def test_updated_after_with_an_ordering_is_refused(api: APIClient) -> None:
    answer = api.get(
        "/api/assets/", {"updated_after": "2026-01-01T00:00:00Z", "ordering": "-created_at"}
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "validation_error"
    assert "ordering" in str(body)
    bad = api.get("/api/assets/", {"updated_after": "yesterday"})
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_error")


# --- ETag and 304 -----------------------------------------------------------------------


def test_an_unchanged_list_answers_304_and_a_change_a_new_etag(api: APIClient) -> None:
    asset = upload(api).json()
    first = api.get("/api/assets/")
    etag = first["ETag"]
    assert etag.startswith('W/"')
    assert first["Cache-Control"] == "no-store"
    same = api.get("/api/assets/", HTTP_IF_NONE_MATCH=etag)
    assert same.status_code == 304
    assert same.content == b""
    assert same["ETag"] == etag
    assert api.get("/api/assets/", HTTP_IF_NONE_MATCH=f'"other", {etag}').status_code == 304
    assert api.get("/api/assets/", {"page_size": 5}, HTTP_IF_NONE_MATCH=etag).status_code == 200
    process_now(asset["id"])
    changed = api.get("/api/assets/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()["results"][0]["status"] == "ready"


def test_deleting_any_asset_changes_the_list_etag(api: APIClient, dng_factory: Any) -> None:
    kept, gone = (upload(api, dng_factory(f"p{s}.dng", seed=s)).json() for s in (1, 2))
    etag = api.get("/api/assets/", {"page_size": 1})["ETag"]
    assert api.delete(gone["url"]).status_code == 204
    assert api.get("/api/assets/", {"page_size": 1}, HTTP_IF_NONE_MATCH=etag).status_code == 200
    assert kept


def test_detail_etag(api: APIClient, other_api: APIClient) -> None:
    asset = upload(api).json()
    etag = api.get(asset["url"])["ETag"]
    assert api.get(asset["url"], HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert api.get(asset["url"], HTTP_IF_NONE_MATCH="*").status_code == 304
    # Someone else's asset is a 404 whatever the validator says.
    assert other_api.get(asset["url"], HTTP_IF_NONE_MATCH=etag).status_code == 404
    process_now(asset["id"])
    assert api.get(asset["url"], HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_the_etag_changes_before_cached_signed_urls_pass_half_their_lifetime(
    api: APIClient,
) -> None:
    process_now(upload(api).json()["id"])
    assets = list(Asset.objects.prefetch_related("variants"))
    start = 1800.0 * 1000  # the start of a half-lifetime period
    tags = [assets_etag(assets, scope="s", expires_in=3600, now=start + t) for t in (0, 1799)]
    assert tags[0] == tags[1]
    assert assets_etag(assets, scope="s", expires_in=3600, now=start + 1800) != tags[0]
    assert assets_etag(assets, scope="s", expires_in=600, now=start) != tags[0]


# --- byte ranges ------------------------------------------------------------------------


@given(size=st.integers(1, 10_000), first=st.integers(0, 12_000), length=st.integers(0, 12_000))
def test_parsed_ranges_stay_inside_the_file(size: int, first: int, length: int) -> None:
    for header in (f"bytes={first}-{first + length}", f"bytes={first}-", f"bytes=-{length}"):
        try:
            wanted = parse_range(header, size)
        except Unsatisfiable:
            assert first >= size or header == "bytes=-0"
            continue
        if wanted is None:
            continue
        assert 0 <= wanted.start <= wanted.end < size
        assert wanted.length >= 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=10-", ByteRange(10, 99)),
        ("bytes=-5", ByteRange(95, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("bytes=90-500", ByteRange(90, 99)),
        ("bytes=0-1,5-9", None),  # several ranges: the whole file
        ("items=0-9", None),
        ("bytes=9-3", None),
        ("", None),
    ],
)
def test_range_headers(header: str, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


def test_downloads_from_file_storage_answer_ranges() -> None:
    data = bytes(range(256)) * 400
    key = "renditions/00000000-0000-0000-0000-000000000000/preview-abc.jpg"
    storage.save(key, data, "image/jpeg")
    url = storage.signed_url(key, 60, download_name="p.jpg").url
    client = Client()
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole["Accept-Ranges"] == "bytes"
    assert whole.getvalue() == data
    part = client.get(url, HTTP_RANGE="bytes=1000-1999")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert part["Content-Length"] == "1000"
    assert part["Content-Type"] == "image/jpeg"
    assert part.getvalue() == data[1000:2000]
    tail = client.get(url, HTTP_RANGE="bytes=-10")
    assert (tail.status_code, tail.getvalue()) == (206, data[-10:])
    beyond = client.get(url, HTTP_RANGE=f"bytes={len(data)}-")
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{len(data)}"
    assert beyond.json()["code"] == "range_not_satisfiable"


# --- CORS -------------------------------------------------------------------------------


def test_cors_only_for_configured_origins(api: APIClient, settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    allowed = api.get("/api/assets/", HTTP_ORIGIN="https://app.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "ETag" in allowed["Access-Control-Expose-Headers"]
    other = api.get("/api/assets/", HTTP_ORIGIN="https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in other
    preflight = Client().options(
        "/api/assets/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, if-none-match",
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight["Access-Control-Allow-Headers"]
    assert "if-none-match" in preflight["Access-Control-Allow-Headers"]
    # The pages are not cross-origin resources.
    page = Client().get("/login/", HTTP_ORIGIN="https://app.example.com")
    assert "Access-Control-Allow-Origin" not in page


def test_signed_file_urls_answer_configured_origins(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    key = "renditions/00000000-0000-0000-0000-000000000000/thumbnail-abc.jpg"
    storage.save(key, b"\xff\xd8data", "image/jpeg")
    url = storage.signed_url(key, 60).url
    status, body, _ = fetch(url)
    assert (status, body) == (200, b"\xff\xd8data")
    answer = Client().get(url, HTTP_ORIGIN="https://app.example.com")
    assert answer["Access-Control-Allow-Origin"] == "https://app.example.com"
