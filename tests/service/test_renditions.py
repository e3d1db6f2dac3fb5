"""Renditions on demand, in-process: the API's answers, the single job per spec, the
sources they are made from, stale variants, failures that stay with the rendition. Jobs
run here as the worker runs them (``rendition_job_run``); tests/service/test_renditions_live.py
runs them in real worker processes."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image
from rest_framework.test import APIClient

from rawproc import storage
from rawproc.imaging.specs import BUILTIN, RenditionSpec
from rawproc.models import Asset, AssetStatus, RenditionJob, Variant
from rawproc.services.processing import asset_reprocess
from rawproc.services.renditions import rendition_job_run, variant_get_or_create
from tests.service.conftest import fetch, process_now
from tests.service.test_api import upload

pytestmark = pytest.mark.django_db

PIL_FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF", "tiff16": "TIFF"}


@pytest.fixture
def ready(api: APIClient, dng_factory: Callable[..., Path]) -> Asset:
    """A processed 900x600 asset with the default renditions (thumbnail and preview)."""
    asset_id = upload(api, dng_factory(width=900, height=600)).json()["id"]
    asset = process_now(asset_id)
    assert asset.status == AssetStatus.READY
    return asset


def run_jobs(asset: Asset) -> int:
    """Run every pending job of the asset as a worker would; how many there were."""
    jobs = list(RenditionJob.objects.filter(asset=asset, status="pending"))
    for job in jobs:
        rendition_job_run(asset_id=str(asset.pk), spec_key=job.spec_key, task_id=job.task_id)
    return len(jobs)


def image_at(location: str) -> Image.Image:
    status, content, _ = fetch(location)
    assert status == 200
    return Image.open(io.BytesIO(content))


def test_a_stored_rendition_large_enough_is_resized_in_the_request(
    api: APIClient, ready: Asset
) -> None:
    url = f"/api/assets/{ready.pk}/renditions/640.webp/"
    before = Asset.objects.get(pk=ready.pk).updated_at
    first = api.get(url)
    assert first.status_code == 302
    image = image_at(first["Location"])
    assert (image.format, image.size) == ("WEBP", (640, 427))
    # A new rendition is a change a sync by updated_after sees.
    assert Asset.objects.get(pk=ready.pk).updated_at > before
    variant = Variant.objects.get(asset=ready, spec_key="640.webp.82")
    assert variant.source == "from:2048.jpeg.85"
    assert variant.name == "640-webp-82"
    again = api.get(url)
    assert again.status_code == 302
    assert Variant.objects.filter(asset=ready).count() == 3
    assert again["Location"].split("?")[0] == first["Location"].split("?")[0]
    assert not RenditionJob.objects.exists()


@pytest.mark.parametrize(
    ("spec", "fmt", "size"),
    [
        ("full.avif", "avif", (900, 600)),
        ("full.jpeg.70", "jpeg", (900, 600)),
        ("full.tiff16", "tiff16", (900, 600)),
    ],
)
def test_full_size_comes_from_the_original_through_a_job(
    api: APIClient, ready: Asset, spec: str, fmt: str, size: tuple[int, int]
) -> None:
    url = f"/api/assets/{ready.pk}/renditions/{spec}/"
    answers = [api.get(url) for _ in range(5)]
    assert {a.status_code for a in answers} == {202}
    body = answers[0].json()
    assert body["status"] == "pending"
    assert answers[0]["Retry-After"] == "2"
    assert answers[0]["Location"] == body["status_url"]
    assert api.get(body["status_url"]).json()["status"] == "pending"
    assert RenditionJob.objects.get(asset=ready).source == "original"
    assert run_jobs(ready) == 1
    made = api.get(url)
    assert made.status_code == 302
    image = image_at(made["Location"])
    assert (image.format, image.size) == (PIL_FORMATS[fmt], size)
    if fmt == "tiff16":
        _, content, headers = fetch(made["Location"])
        assert headers["Content-Type"] == "image/tiff"
        master = tifffile.imread(io.BytesIO(content))
        assert (master.dtype, master.shape) == (np.dtype(np.uint16), (size[1], size[0], 3))
    status = api.get(body["status_url"]).json()
    assert status["status"] == "ready"
    assert status["variant"]["source"] == "full_demosaic"
    assert run_jobs(ready) == 0


def test_the_service_makes_one_job_however_often_it_is_asked(ready: Asset) -> None:
    spec = RenditionSpec("big", None, "webp")
    states = [variant_get_or_create(asset=ready, spec=spec) for _ in range(20)]
    assert {s.status for s in states} == {"pending"}
    assert len({s.job.task_id for s in states if s.job}) == 1
    assert RenditionJob.objects.filter(asset=ready).count() == 1


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        ("image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "avif"),
        ("image/webp,image/*;q=0.8", "webp"),
        ("image/avif;q=0, image/webp;q=0.5", "webp"),
        ("image/*", "jpeg"),
        ("", "jpeg"),
        ("text/html", "jpeg"),
    ],
)
def test_a_bare_size_takes_its_format_from_accept(
    api: APIClient, ready: Asset, accept: str, fmt: str
) -> None:
    headers: dict[str, Any] = {"HTTP_ACCEPT": accept} if accept else {}
    answer = api.get(f"/api/assets/{ready.pk}/renditions/1080/", **headers)
    assert answer.status_code == 302
    assert "Accept" in answer["Vary"]
    assert image_at(answer["Location"]).format == PIL_FORMATS[fmt]


def test_accept_does_not_change_a_named_format_nor_refuse_it(api: APIClient, ready: Asset) -> None:
    for route in ("renditions/320.webp/", "variants/thumbnail/", "variants/preview/"):
        answer = api.get(f"/api/assets/{ready.pk}/{route}", HTTP_ACCEPT="image/webp")
        assert answer.status_code == 302, answer.content
        assert image_at(answer["Location"]).format != "AVIF" or route == "variants/preview/"


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.sampled_from(["1080.gif", "320.webp.0", "320.webp.101", "8", "1e3", "full.", "a.b.c.d"]),
        st.text(alphabet="abcxyz0123456789._-", min_size=1, max_size=20).filter(
            lambda t: t not in ("thumbnail", "preview", "full") and not t.isdigit()
        ),
    )
)
def test_bad_spec_texts_are_400_with_a_stable_code(ready: Asset, text: str) -> None:
    from rest_framework.authtoken.models import Token

    api = APIClient()
    api.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=ready.owner)[0].key}"
    )
    answer = api.get(f"/api/assets/{ready.pk}/renditions/{text}/")
    if answer.status_code == 302:  # a valid spec the text happened to spell
        return
    assert answer.status_code in (400, 404), answer.content
    if answer.status_code == 400:
        assert answer.json()["code"] in (
            "rendition_spec_invalid",
            "rendition_size_not_allowed",
            "rendition_format_not_allowed",
            "rendition_format_unsupported",
        )


def test_sizes_and_formats_outside_the_settings_are_refused(
    api: APIClient, ready: Asset, settings: Any
) -> None:
    settings.RAWPROC_RENDITION_SIZES = (320, None)
    settings.RAWPROC_RENDITION_FORMATS = ("jpeg", "webp")
    base = f"/api/assets/{ready.pk}/renditions"
    for spec, code in (
        ("640.webp", "rendition_size_not_allowed"),
        ("1080", "rendition_size_not_allowed"),
        ("320.avif", "rendition_format_not_allowed"),
        ("full.tiff16", "rendition_format_not_allowed"),
        ("320.gif", "rendition_spec_invalid"),
    ):
        answer = api.get(f"{base}/{spec}/")
        assert (answer.status_code, answer.json()["code"]) == (400, code), spec
    # Aliases are the operator's own: always allowed; Accept never asks for a refused format.
    assert api.get(f"{base}/preview/").status_code == 302
    assert image_at(api.get(f"{base}/320/", HTTP_ACCEPT="image/avif")["Location"]).format == "JPEG"


def test_not_ready_is_409_and_not_yours_is_404(
    api: APIClient, other_api: APIClient, dng_factory: Callable[..., Path]
) -> None:
    asset_id = upload(api, dng_factory(seed=3)).json()["id"]
    answer = api.get(f"/api/assets/{asset_id}/renditions/640.webp/")
    assert (answer.status_code, answer.json()["code"]) == (409, "asset_not_ready")
    process_now(asset_id)
    for route in ("renditions/", "renditions/640.webp/", "renditions/640.webp/status/"):
        answer = other_api.get(f"/api/assets/{asset_id}/{route}")
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found")


def test_the_list_shows_variants_and_jobs(api: APIClient, ready: Asset) -> None:
    api.get(f"/api/assets/{ready.pk}/renditions/full.webp/")
    listed = api.get(f"/api/assets/{ready.pk}/renditions/").json()
    assert {v["spec"] for v in listed["variants"]} == {"320.jpeg.85", "2048.jpeg.85"}
    assert [(j["spec"], j["status"]) for j in listed["jobs"]] == [("full.webp.82", "pending")]


def test_an_alias_changed_in_the_settings_is_stale_and_made_again(
    api: APIClient, ready: Asset, settings: Any
) -> None:
    old = Variant.objects.get(asset=ready, name="thumbnail")
    settings.RAWPROC_RENDITION_ALIASES = {
        **settings.RAWPROC_RENDITION_ALIASES,
        "thumbnail": RenditionSpec("thumbnail", 240, "webp"),
    }
    answer = api.get(f"/api/assets/{ready.pk}/variants/thumbnail/")
    assert answer.status_code == 302
    image = image_at(answer["Location"])
    assert (image.format, max(image.size)) == ("WEBP", 240)
    current = Variant.objects.get(asset=ready, name="thumbnail")
    assert current.spec_key == "240.webp.82"
    assert not Variant.objects.filter(pk=old.pk).exists()
    assert not storage.exists(old.storage_key)


def test_a_failed_rendition_fails_alone_with_its_code(api: APIClient, ready: Asset) -> None:
    url = f"/api/assets/{ready.pk}/renditions/full.webp/"
    assert api.get(url).status_code == 202
    storage.delete(ready.storage_key)  # the original is gone from storage
    run_jobs(ready)
    answer = api.get(url)
    assert answer.status_code == 422
    assert answer.json()["code"] == "rendition_failed"
    assert answer.json()["error"]["code"] == "source_missing"
    status = api.get(f"{url}status/").json()
    assert (status["status"], status["error"]["code"]) == ("failed", "source_missing")
    ready.refresh_from_db()
    assert ready.status == AssetStatus.READY
    assert api.get(f"/api/assets/{ready.pk}/variants/preview/").status_code == 302


def test_a_reprocess_drops_a_rendition_made_from_what_it_replaces(
    api: APIClient, ready: Asset
) -> None:
    url = f"/api/assets/{ready.pk}/renditions/full.avif/"
    assert api.get(url).status_code == 202
    job = RenditionJob.objects.get(asset=ready)
    asset_reprocess(asset=ready)
    rendition_job_run(asset_id=str(ready.pk), spec_key=job.spec_key, task_id=job.task_id)
    assert not Variant.objects.filter(asset=ready, spec_key="full.avif.60").exists()
    assert api.get(url).json()["code"] == "asset_not_ready"
    process_now(str(ready.pk))
    assert api.get(url).status_code == 202
    assert run_jobs(ready) == 1
    assert api.get(url).status_code == 302


def test_processing_stores_the_spec_key_of_each_configured_rendition(ready: Asset) -> None:
    keys = dict(Variant.objects.filter(asset=ready).values_list("name", "spec_key"))
    assert keys == {n: BUILTIN[n].key for n in ("thumbnail", "preview")}
