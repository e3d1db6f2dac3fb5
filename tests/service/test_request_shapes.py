"""Every hostile request shape to every route: never a 5xx, and the JSON error shape.

A table: the shapes of tests/fixtures/request_shapes.py times the routes of the URL
configuration (walked from ``get_resolver()``), sent in-process as three clients: anonymous,
an API token, and a signed-in staff session with CSRF checks on (the way a browser's form
posts arrive). API and signed-file routes must answer every error with
``{"code", "message"}``; pages may answer HTML, but never a 5xx. Then the nine shapes that
used to answer ``500`` get their exact status and code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.fixtures.request_shapes import Route, Shape, routes, shapes

pytestmark = pytest.mark.django_db


def send(client: Client, route: Route, shape: Shape) -> HttpResponse:
    path = f"{route.path}?{shape.query}" if shape.query else route.path
    headers: dict[str, Any] = dict(shape.headers)
    response: Any = client.generic(
        shape.method, path, data=shape.body, content_type=shape.content_type, **headers
    )
    return cast(HttpResponse, response)


def problems(response: HttpResponse, route: Route) -> str | None:
    """Why an answer is wrong, or ``None``."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.content[:200]!r}"
    if response.status_code < 400:
        return None
    is_json = response.get("Content-Type", "").startswith("application/json")
    if not is_json:
        return f"{response.status_code} not JSON" if route.is_api else None
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{response.status_code} invalid JSON body"
    if not (isinstance(body, dict) and isinstance(body.get("code"), str) and "message" in body):
        return f"{response.status_code} not the error shape: {body!r}"[:300]
    return None


@pytest.fixture
def owner(settings: Any) -> User:
    settings.RAWPROC_UPLOAD_RATE = None  # reach the upload code, not the throttle
    return User.objects.create_superuser("shapes", password="not-used-here")


@pytest.fixture
def values(owner: User) -> dict[str, str]:
    """Route parameters naming real objects, so the views run past their lookups."""
    created = _token(owner).post(
        "/api/uploads/", {"filename": "a.dng", "size": 1000}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    return {
        "asset_id": str(created.json()["asset"]["id"]),
        "object_id": str(owner.pk),
        "id": str(owner.pk),
        "name": "thumbnail",
    }


def _anonymous(owner: User) -> Client:
    return Client(enforce_csrf_checks=True)


def _token(owner: User) -> Client:
    token, _ = Token.objects.get_or_create(user=owner)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def _session(owner: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    return client


CLIENTS: dict[str, Callable[[User], Client]] = {
    "anonymous": _anonymous,
    "token": _token,
    "session": _session,
}


@pytest.mark.parametrize("who", CLIENTS)
def test_no_shape_reaches_a_server_error(
    who: str, owner: User, values: dict[str, str], settings: Any
) -> None:
    # Lower limits, and shapes sized past them: the same refusals, without parsing
    # megabytes of multipart in every one of the thousands of requests.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
    client = CLIENTS[who](owner)
    table = routes(values)
    every = shapes(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
    failures = [
        f"{shape.name} -> {shape.method} {route.path}: {problem}"
        for route in table
        for shape in every
        if (problem := problems(send(client, route, shape), route))
    ]
    tried = len(table) * len(every)
    print(
        f"{who}: {len(every)} shapes x {len(table)} routes = {tried} requests, "
        f"{len(failures)} wrong"
    )
    assert len(table) > 40 and len(every) > 15  # the walk found the admin and the API
    assert not failures, "\n".join(failures[:40])


# The shapes that answered 500 before, with what they answer now.
EXPECTED = [
    ("json nested 1000 arrays", "/api/uploads/", 400, "invalid_json"),
    ("json nested 1000 objects", "/api/uploads/", 400, "invalid_json"),
    ("json too large", "/api/uploads/", 413, "request_too_large"),
    ("urlencoded too large", "/api/assets/", 413, "request_too_large"),
    ("multipart text field too large", "/api/assets/", 413, "request_too_large"),
    ("multipart text field too large", "/api/uploads/", 413, "request_too_large"),
    ("urlencoded too many fields", "/api/assets/", 400, "too_many_fields"),
    ("multipart too many fields", "/api/assets/", 400, "too_many_fields"),
    ("multipart 101 files", "/api/assets/", 400, "too_many_files"),
    ("multipart no boundary", "/api/assets/", 400, "malformed_multipart"),
    ("multipart bad boundary", "/api/assets/", 400, "malformed_multipart"),
    ("multipart no boundary", "/login/", 400, "malformed_multipart"),
    ("query too many parameters", "/api/assets/", 400, "too_many_parameters"),
    ("query too many parameters", "/api/health/", 400, "too_many_parameters"),
    ("query 5 KB", "/api/assets/", 414, "uri_too_long"),
    ("json truncated", "/api/uploads/", 400, "invalid_json"),
    ("json not utf-8", "/api/uploads/", 400, "invalid_json"),
    ("json NaN", "/api/uploads/", 400, "invalid_json"),
    ("urlencoded too many fields", "/login/", 400, "too_many_fields"),
    ("urlencoded too large", "/login/", 413, "request_too_large"),
    ("multipart truncated", "/files/upload/x/", 403, "invalid_signature"),
]


@pytest.mark.parametrize(("shape_name", "path", "status", "code"), EXPECTED)
def test_shape_answers_its_code(
    owner: User, shape_name: str, path: str, status: int, code: str
) -> None:
    shape = next(shape for shape in shapes() if shape.name == shape_name)
    response = send(_token(owner), Route(path, path), shape)
    body = json.loads(response.content)
    assert (response.status_code, body["code"]) == (status, code), response.content


def test_json_within_the_depth_limit_is_parsed(owner: User, settings: Any) -> None:
    """The limit refuses depth, not JSON: a document at the limit reaches validation."""
    inner = settings.RAWPROC_JSON_MAX_DEPTH - 1  # inside the top-level object
    nested = "[" * inner + "]" * inner
    response = _token(owner).post(
        "/api/uploads/",
        data=f'{{"filename": "a.dng", "size": 1, "x": {nested}}}',
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    deeper = "[" + nested + "]"
    response = _token(owner).post(
        "/api/uploads/", data=f'{{"x": {deeper}}}', content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_json")
