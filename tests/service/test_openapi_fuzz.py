"""Schemathesis against ``/api/schema/``: requests generated from the OpenAPI schema, sent to
the WSGI application in-process as an authenticated user who owns a processed asset.

Checks: no 5xx answer, and every answer matches the schema (status code, content type,
body). In the suite the run is short and derandomized (``FUZZ_EXAMPLES`` per operation,
default 25); a longer run: ``RAWPROC_FUZZ_EXAMPLES=1000 uv run pytest
tests/service/test_openapi_fuzz.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core import signals
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import SMALL_RAW, process_now

FUZZ_EXAMPLES = int(os.environ.get("RAWPROC_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keep_test_connection(owner: tuple[str, str]) -> Iterator[None]:
    """Keep the test's database connection across in-process requests.

    Django closes a connection at the end of each request when its autocommit state differs
    from the configured one, which is always so inside a test transaction; Django's own test
    client disconnects that handler for the same reason (and connects it again after each of
    its requests, hence this runs after ``owner``), the WSGI calls made here do not.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def owner(db: None, settings: Any) -> tuple[str, str]:
    """A user's token and the id of a ready asset of theirs (so some ids in paths exist)."""
    settings.RAWPROC_UPLOAD_RATE = None  # let the fuzzer reach the upload code
    user = User.objects.create_user("fuzz")
    token = Token.objects.create(user=user).key
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    answer = client.post(
        "/api/assets/", {"file": SimpleUploadedFile(SMALL_RAW.name, SMALL_RAW.read_bytes())}
    )
    asset_id = str(answer.json()["id"])
    process_now(asset_id)
    return token, asset_id


def _load_schema() -> Any:
    """Read at collection: the schema view needs no database, only Django's settings."""
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = _load_schema()


@pytest.mark.django_db
# schemathesis types parametrize() as returning a bare Callable.
@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_as_its_schema_says(
    case: Any, owner: tuple[str, str], keep_test_connection: None
) -> None:
    token, asset_id = owner
    if "asset_id" in (case.path_parameters or {}) and case.path_parameters["asset_id"][0] < "8":
        case.path_parameters["asset_id"] = asset_id  # half the calls reach a real asset
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
