"""Access control and delivery: who may call what, and what a signed URL allows.

Every API route is found from the URL configuration, so a route added later is covered
without editing this file: each must refuse anonymous callers (but health, schema and
docs), and each route about one asset must answer another user exactly as it answers for
an asset that does not exist.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from harness.processes import clean_env
from harness.seaweedfs import SeaweedFS
from rawproc import storage
from rawproc.api import urls as api_urls
from rawproc.cli import main
from rawproc.models import Asset
from tests.service.conftest import SMALL_RAW, fetch, process_now, reserve

REPO = Path(__file__).resolve().parents[2]
PUBLIC_ROUTES = {"health", "schema", "docs", "redoc"}
HANDLERS = ("get", "post", "put", "patch", "delete")


def routes() -> Iterator[tuple[str, str, URLPattern]]:
    """(name, method, pattern) for every method of every API route."""
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        # as_view() sets view_class on the function it returns; Callable has no such field.
        view_class: Any = pattern.callback.view_class  # type: ignore[attr-defined]
        for method in HANDLERS:
            if hasattr(view_class, method):
                yield str(pattern.name), method, pattern


def url_for(pattern: URLPattern, asset_id: object) -> str:
    kwargs = {
        name: (asset_id if name.endswith("_id") else "thumbnail")
        for name in pattern.pattern.converters
    }
    return reverse(str(pattern.name), kwargs=kwargs)


def upload(api: APIClient) -> str:
    answer = api.post(
        "/api/assets/", {"file": SimpleUploadedFile(SMALL_RAW.name, SMALL_RAW.read_bytes())}
    )
    assert answer.status_code == 202, answer.content
    asset_id = str(answer.json()["id"])
    process_now(asset_id)
    return asset_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method", "pattern"), [pytest.param(*r, id=f"{r[1]} {r[0]}") for r in routes()]
)
def test_every_route_but_health_and_schema_needs_a_login(
    name: str, method: str, pattern: URLPattern
) -> None:
    answer = getattr(APIClient(), method)(url_for(pattern, uuid.uuid4()))
    if name in PUBLIC_ROUTES:
        assert answer.status_code == 200
    else:
        assert answer.status_code == 401, answer.content
        assert answer.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_another_users_asset_is_indistinguishable_from_none(
    api: APIClient, other_api: APIClient
) -> None:
    asset_id = upload(api)
    owned = Asset.objects.get(pk=asset_id)
    for name, method, pattern in routes():
        if "asset_id" not in pattern.pattern.converters:
            continue
        theirs = getattr(other_api, method)(url_for(pattern, asset_id))
        missing = getattr(other_api, method)(url_for(pattern, uuid.uuid4()))
        assert theirs.status_code == missing.status_code == 404, (name, method)
        assert theirs.json() == missing.json() == {"code": "not_found", "message": "Not found."}
    # Nothing was changed by the attempts, and the owner still reaches everything.
    assert Asset.objects.get(pk=asset_id).updated_at == owned.updated_at
    assert api.get(f"/api/assets/{asset_id}/").status_code == 200

    # No filter of the list reveals it either.
    filters = {
        "status": "ready",
        "camera_make": owned.camera_make,
        "camera_model": owned.camera_model,
        "ordering": "-created_at",
    }
    for key, value in filters.items():
        assert api.get("/api/assets/", {key: value}).json()["count"] == 1, key
        assert other_api.get("/api/assets/", {key: value}).json()["count"] == 0, key


def _mutations(url: str) -> Iterator[str]:
    """The URL with each character after its path's leading ``/`` replaced, one at a time."""
    parts = urlsplit(url)
    start = len(url) - len(parts.path) - len(f"?{parts.query}" if parts.query else "") + 1
    for index in range(start, len(url)):
        changed = "A" if url[index] != "A" else "B"
        yield url[:index] + changed + url[index + 1 :]


@pytest.mark.django_db
def test_a_signed_url_with_any_character_changed_is_refused(backend: str) -> None:
    key = "renditions/0c6f/thumbnail-v1.jpg"
    storage.save(key, b"rendition bytes", "image/jpeg")
    link = storage.signed_url(key, 300, download_name="photo-thumbnail.jpg")
    assert fetch(link.url)[:2] == (200, b"rendition bytes")
    tried = 0
    for mutated in _mutations(link.url):
        assert _refused(mutated), mutated
        tried += 1
    assert tried > 50


def _refused(url: str) -> bool:
    """True when the URL gives an error status and not the object's bytes."""
    try:
        status, body, headers = fetch(url)
    except requests.ConnectionError:
        # SeaweedFS drops the connection on a malformed credential date (S3 answers 403).
        return True
    if status == 301:  # the trailing slash changed: Django redirects to add it back
        return _refused(headers["Location"])
    return status in (400, 403, 404) and body != b"rendition bytes"


@pytest.mark.django_db
def test_a_signed_upload_with_any_field_changed_is_refused(backend: str, user: User) -> None:
    data = b"x" * 100
    asset, target = reserve(user, len(data))
    key = asset.upload_key
    candidates = [(mutated, target.fields) for mutated in _mutations(target.url)]
    for field, value in target.fields.items():  # S3: key, content type, policy, signature...
        for index in range(len(value)):
            changed = value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1 :]
            candidates.append((target.url, {**target.fields, field: changed}))
    for url, fields in candidates:
        assert _post(url, fields, data) in (0, 301, 400, 403, 404, 405), (url, fields)
    assert not storage.exists(key)
    assert _post(target.url, target.fields, data) in (200, 201, 204)


def _post(url: str, fields: dict[str, str], data: bytes) -> int:
    """POST a direct-upload form; 0 when the server drops the connection instead."""
    if url.startswith("/"):
        upload = SimpleUploadedFile("photo.NEF", data, "image/x-nikon-nef")
        return int(Client().post(url, {**fields, "file": upload}).status_code)
    files = {"file": ("photo.NEF", data, "image/x-nikon-nef")}
    try:
        return requests.post(url, data=fields, files=files, timeout=10).status_code
    except requests.ConnectionError:
        return 0


@pytest.mark.django_db
def test_a_rotated_token_is_revoked(user: User, capsys: pytest.CaptureFixture[str]) -> None:
    old = Token.objects.create(user=user).key
    client = APIClient(HTTP_AUTHORIZATION=f"Token {old}")
    assert client.get("/api/assets/").status_code == 200
    assert main(["token", user.username, "--rotate"]) == 0
    new = capsys.readouterr().out.strip()
    refused = client.get("/api/assets/")
    assert (refused.status_code, refused.json()["code"]) == (401, "authentication_failed")
    assert APIClient(HTTP_AUTHORIZATION=f"Token {new}").get("/api/assets/").status_code == 200


@pytest.mark.django_db
def test_uploads_are_throttled_per_user(
    api: APIClient, other_api: APIClient, settings: Any
) -> None:
    settings.RAWPROC_UPLOAD_RATE = "2/min"
    body = {"filename": "a.NEF", "size": 100}
    assert api.post("/api/uploads/", body, format="json").status_code == 201
    assert api.post("/api/uploads/", body, format="json").status_code == 201
    # The third upload in the minute, by either route, is refused with a stable code.
    for answer in (
        api.post("/api/uploads/", body, format="json"),
        api.post("/api/assets/", {"file": SimpleUploadedFile("b.NEF", b"RAW")}),
    ):
        assert answer.status_code == 429
        assert answer.json()["code"] == "throttled"
        assert int(answer.headers["Retry-After"]) > 0
    assert api.get("/api/assets/").status_code == 200  # reading is never throttled
    assert other_api.post("/api/uploads/", body, format="json").status_code == 201


@pytest.mark.django_db
def test_session_writes_need_the_csrf_token(user: User) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    body = {"filename": "a.NEF", "size": 100}
    refused = browser.post("/api/uploads/", body, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert "CSRF" in refused.json()["message"]
    assert browser.get("/api/assets/").status_code == 200  # reads need no token

    secret = secrets.token_hex(16)  # an unmasked 32-character CSRF secret
    browser.cookies["csrftoken"] = secret
    accepted = browser.post("/api/uploads/", body, format="json", HTTP_X_CSRFTOKEN=secret)
    assert accepted.status_code == 201, accepted.content


def _clean_env(**extra: str) -> dict[str, str]:
    """``clean_env`` without an inherited ``DEBUG``, which the deploy check must not see."""
    base = clean_env()
    base.pop("DEBUG", None)
    return {**base, **extra}


def _check_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=_clean_env(RAWPROC_DATA_DIR=str(tmp_path), RAWPROC_ENV_FILE=os.devnull, **env),
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_settings_pass_the_deploy_check(tmp_path: Path) -> None:
    production = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50)}
    passed = _check_deploy(tmp_path, ALLOWED_HOSTS="photos.example.com", **production)
    assert passed.returncode == 0, passed.stderr
    assert "no issues" in passed.stdout
    # The single-machine setup on loopback speaks plain HTTP, which the check reports.
    laptop = _check_deploy(tmp_path, ALLOWED_HOSTS="127.0.0.1", **production)
    assert laptop.returncode != 0
    assert "SECURE_SSL_REDIRECT" in laptop.stderr


SECRET_PATTERNS = {
    "AWS access key id": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS secret key": re.compile(
        rb"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
    ),
    "GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(rb"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Django secret key": re.compile(rb"(?m)^\s*SECRET_KEY\s*=\s*['\"][^'\"]{20,}['\"]"),
}


def test_no_secret_is_committed() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: no list of tracked files")
    found = []
    for name in listed.stdout.decode().split("\0"):
        path = REPO / name
        if not name or not path.is_file():
            continue
        data = path.read_bytes()
        found += [f"{name}: {what}" for what, rx in SECRET_PATTERNS.items() if rx.search(data)]
    assert not found, found


def _documented_cors_rules() -> list[dict[str, Any]]:
    text = (REPO / "docs" / "deploy.md").read_text()
    block = re.search(r"```json\n(\s*\[\{\"AllowedOrigins\".*?)```", text, re.S)
    assert block, "docs/deploy.md must give the bucket CORS rules as a JSON block"
    return list(json.loads(block.group(1)))


def test_documented_bucket_cors_lets_the_site_upload(seaweedfs: SeaweedFS) -> None:
    """The CORS JSON of docs/deploy.md, applied to a real bucket, admits the site's origin."""
    rules = _documented_cors_rules()
    origin = rules[0]["AllowedOrigins"][0]
    bucket = seaweedfs.create_bucket("cors")
    client = seaweedfs.client()
    client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    preflight = requests.options(
        f"{seaweedfs.endpoint_url}/{bucket}/originals/1/x/photo.NEF",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["Access-Control-Allow-Origin"] in (origin, "*")
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
