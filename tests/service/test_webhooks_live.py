"""Webhooks end to end: ``rawproc serve`` (API, a real Celery worker, beat) in a subprocess
and real HTTP receivers in this process. An upload's ``asset.ready`` reaches its owner's
receiver signed (verified with the standardwebhooks library); the first attempt, answered
``500``, is retried with the same event id; the attempts are listed by the API; another
user's receiver gets nothing of it; deleting the asset sends ``asset.deleted``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook as StandardWebhook

from tests.fixtures.receiver import Received, receiver
from tests.service.live import (
    postgres_database,
    redis_queues,
    running_server,
    upload_multipart,
    wait_done,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

WAIT_SECONDS = 90.0


def _events(requests: list[Received], secret: str) -> list[dict[str, object]]:
    """Each request's payload, after its signature was verified."""
    return [dict(StandardWebhook(secret).verify(r.body, r.headers)) for r in requests]


@pytest.fixture(params=["embedded", "redis"])
def stack_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Nothing configured (file-system broker, SQLite), or PostgreSQL and Redis."""
    if request.param == "embedded":
        yield {}
        return
    with postgres_database() as database_url:
        redis_url = request.getfixturevalue("redis_url")
        yield {"DATABASE_URL": database_url, "REDIS_URL": redis_url, **redis_queues()}


def test_ready_and_deleted_events_signed_and_retried(
    tmp_path: Path, dng_factory: Callable[..., Path], stack_env: dict[str, str]
) -> None:
    env = {
        **stack_env,
        "RAWPROC_WEBHOOK_ALLOW_PRIVATE": "true",
        "RAWPROC_WEBHOOK_RETRY_SCHEDULE": "1,2",
    }
    with (
        receiver([500, 200, 500, 200]) as alice_hooks,
        receiver([200]) as bob_hooks,
        running_server(tmp_path, env) as server,
    ):
        alice, bob, base = server.session("alice"), server.session("bob"), server.base
        created = alice.post(f"{base}/api/webhooks/", json={"url": alice_hooks.url}, timeout=30)
        assert created.status_code == 201, created.text
        hook = created.json()
        # Private addresses are allowed here, the cloud metadata address never.
        for metadata in ("http://169.254.169.254/latest/", "http://[::ffff:169.254.169.254]/"):
            refused = alice.post(f"{base}/api/webhooks/", json={"url": metadata}, timeout=30)
            assert refused.status_code == 400, refused.text
            assert refused.json()["code"] == "webhook_url_forbidden"
        theirs = bob.post(f"{base}/api/webhooks/", json={"url": bob_hooks.url}, timeout=30)
        assert theirs.status_code == 201, theirs.text

        asset = wait_done(alice, upload_multipart(alice, base, dng_factory(seed=7))["url"], server)
        assert asset["status"] == "ready", asset["error"]
        received = alice_hooks.wait_for(2, WAIT_SECONDS)
        assert len(received) == 2, received
        ready = _events(received, hook["secret"])
        assert [event["type"] for event in ready] == ["asset.ready", "asset.ready"]
        assert ready[0] == ready[1]
        data = ready[1]["data"]
        assert isinstance(data, dict)
        assert (data["id"], data["status"]) == (asset["id"], "ready")
        assert str(data["url"]).endswith(f"/api/assets/{asset['id']}/")
        assert received[0].headers["webhook-id"] == received[1].headers["webhook-id"]

        # The worker logs an attempt once its answer is in: the receiver can hear the second
        # attempt a moment before the log holds it.
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            deliveries = alice.get(f"{base}/api/webhooks/{hook['id']}/deliveries/", timeout=30)
            attempts = sorted(deliveries.json()["results"], key=lambda row: row["attempt"])
            if len(attempts) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [(row["attempt"], row["status_code"]) for row in attempts] == [(1, 500), (2, 200)]
        assert attempts[0]["next_attempt_at"] is not None

        assert alice.delete(asset["url"], timeout=30).status_code == 204
        received = alice_hooks.wait_for(4, WAIT_SECONDS)
        assert len(received) == 4, received
        deleted = _events(received[2:], hook["secret"])
        assert [event["type"] for event in deleted] == ["asset.deleted", "asset.deleted"]
        assert json.loads(received[3].body)["data"]["id"] == asset["id"]

        # Bob's receiver never heard of Alice's asset.
        assert bob_hooks.requests == []
        # And the secret was never shown again.
        assert "secret" not in alice.get(f"{base}/api/webhooks/{hook['id']}/", timeout=30).json()
