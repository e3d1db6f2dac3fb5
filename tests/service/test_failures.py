"""Unexpected exceptions and running out of memory, in a real Celery worker.

The worker runs ``tests.service.faultworker``: the production tasks, with a ``RuntimeError``
injected after the renditions of a marked file were written (a bug in processing) and a
``MemoryError`` injected into the decode of another. The bug fails its asset at once with
``internal_error``, removes the renditions that run wrote and logs the traceback; the
``MemoryError`` is retried with backoff, then fails ``out_of_memory``; and the worker goes on
serving the next file.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from harness.stack import Stack, running_stack
from tests.fixtures.messages import not_human
from tests.service.faultworker import BUG_MARKER_ENV, OOM_MARKER_ENV
from tests.service.live import upload_multipart

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

FAULTWORKER = "tests.service.faultworker"
BUG_MARKER = f"bug-{uuid.uuid4().hex}"
OOM_MARKER = f"oom-{uuid.uuid4().hex}"
MAX_RETRIES = 2
WAIT_SECONDS = 180.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {
        "RAWPROC_TASK_MAX_RETRIES": str(MAX_RETRIES),
        "RAWPROC_RETRY_BACKOFF_MAX": "1",
        "RAWPROC_UPLOAD_RATE": "",
    }
    with running_stack(web_workers=1, threads=2, extra_env=env) as stack:
        stack.start_workers(
            1, app=FAULTWORKER, env={BUG_MARKER_ENV: BUG_MARKER, OOM_MARKER_ENV: OOM_MARKER}
        )
        try:
            yield stack
        finally:
            stack.stop_workers()


def upload(stack: Stack, path: Path) -> str:
    """Upload over HTTP; return the asset's API URL."""
    return str(upload_multipart(stack.session(), stack.base, path)["url"])


def finished(stack: Stack, url: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        current = dict(stack.session().get(url, timeout=60).json())
        if current["status"] in ("ready", "failed"):
            return current
        time.sleep(0.2)
    pytest.fail(f"{url} never finished; last {current['status']}:\n{stack.log_tail()}")


def stored_renditions(stack: Stack, asset_id: str) -> list[str]:
    """The objects under the asset's rendition prefix, read from the object store itself."""
    env = stack.env
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_S3_REGION_NAME"],
        config=Config(s3={"addressing_style": "path"}),
    )
    answer = client.list_objects_v2(Bucket=env["AWS_BUCKET_NAME"], Prefix=f"renditions/{asset_id}/")
    return [item["Key"] for item in answer.get("Contents", [])]


def worker_log(stack: Stack) -> str:
    return "".join(p.read_text(errors="replace") for p in stack.workdir.glob("worker-*.log"))


def test_an_unexpected_exception_fails_the_asset_at_once_and_removes_its_renditions(
    stack: Stack, dng_factory: Callable[..., Path]
) -> None:
    buggy = upload(stack, dng_factory("buggy.dng", exif={"Artist": BUG_MARKER}, seed=21))
    good = upload(stack, dng_factory("after-bug.dng", seed=22))

    failed = finished(stack, buggy)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "internal_error"
    assert not_human(failed["error"]["message"]) is None
    assert failed["error"]["detail"].startswith("RuntimeError: injected by the fault worker")
    assert failed["attempts"] == 1  # failed at once: no retries, no stale-sweep crashes
    assert failed["variants"] == []
    assert stored_renditions(stack, failed["id"]) == []
    log = worker_log(stack)
    assert "unexpected error in processing" in log
    assert "Traceback" in log

    ready = finished(stack, good)
    assert ready["status"] == "ready", ready["error"]
    assert len(stored_renditions(stack, ready["id"])) == len(ready["variants"]) == 2


def test_running_out_of_memory_is_retried_then_fails_out_of_memory(
    stack: Stack, dng_factory: Callable[..., Path]
) -> None:
    hungry = upload(stack, dng_factory("hungry.dng", exif={"Artist": OOM_MARKER}, seed=23))
    good = upload(stack, dng_factory("after-oom.dng", seed=24))

    failed = finished(stack, hungry)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "out_of_memory"
    assert not_human(failed["error"]["message"]) is None
    assert failed["error"]["detail"].startswith("MemoryError")
    assert failed["attempts"] == 1 + MAX_RETRIES
    assert failed["degraded"] is False and failed["variants"] == []
    assert stored_renditions(stack, failed["id"]) == []
    assert finished(stack, good)["status"] == "ready"
