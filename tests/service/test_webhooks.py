"""Webhooks with the database: registering (address checks, the secret shown once), the
events each change records, and sending attempts to a real HTTP receiver in a thread."""

from __future__ import annotations

import base64
import ipaddress
import json
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from rawproc.models import Asset
from rawproc.services.assets import asset_create, asset_delete
from rawproc.services.processing import _finish_failed
from rawproc.webhooks.addresses import refusal
from rawproc.webhooks.models import MessageStatus, Webhook, WebhookDelivery, WebhookMessage
from rawproc.webhooks.services import (
    webhook_create,
    webhook_delete,
    webhook_event_emit,
    webhook_message_deliver,
    webhook_send_due,
)
from tests.fixtures.receiver import receiver
from tests.service.conftest import process_now

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://93.184.215.14/hook"  # an address on the internet, no name to resolve
# Refused without RAWPROC_WEBHOOK_ALLOW_PRIVATE, allowed with it.
PRIVATE_URLS = [
    "https://127.0.0.1/hook",
    "https://127.8.9.10:8443/hook",
    "https://localhost/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.20/hook",
    "https://100.64.0.1/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[fd00::1]/hook",
]
# Refused whatever the setting says.
ALWAYS_REFUSED_URLS = [
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.1.1/hook",
    "https://[::ffff:169.254.169.254]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00:ec2::254]/hook",
    "https://0.0.0.0/hook",
    "https://[::]/hook",
    "https://224.0.0.1/hook",
    "https://[ff02::1]/hook",
    "https://240.0.0.1/hook",
    "https://255.255.255.255/hook",
]
INVALID_URLS = [
    "ftp://93.184.215.14/hook",
    "file:///etc/passwd",
    "not a url",
    "https:///no-host",
    "https://user:secret@93.184.215.14/hook",
    "https://93.184.215.14:99999/hook",
    "http://93.184.215.14/hook",  # plain http needs RAWPROC_WEBHOOK_ALLOW_PRIVATE
    "https://93.184.215.14/" + "a" * 2000,
]


def _create(api: APIClient, url: str, **body: Any) -> Any:
    return api.post("/api/webhooks/", {"url": url, **body}, format="json")


@pytest.mark.parametrize("url", PRIVATE_URLS + ALWAYS_REFUSED_URLS)
def test_internal_addresses_are_refused(api: APIClient, url: str) -> None:
    answer = _create(api, url)
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == "webhook_url_forbidden"
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_addresses_allowed_by_the_setting(api: APIClient, settings: Any, url: str) -> None:
    settings.RAWPROC_WEBHOOK_ALLOW_PRIVATE = True
    answer = _create(api, url.replace("https://", "http://"))
    assert answer.status_code == 201, answer.content


@pytest.mark.parametrize("url", ALWAYS_REFUSED_URLS)
def test_link_local_refused_even_with_the_setting(api: APIClient, settings: Any, url: str) -> None:
    settings.RAWPROC_WEBHOOK_ALLOW_PRIVATE = True
    for candidate in (url, url.replace("https://", "http://")):
        answer = _create(api, candidate)
        assert answer.status_code == 400
        assert answer.json()["code"] == "webhook_url_forbidden"


@pytest.mark.parametrize("url", INVALID_URLS)
def test_malformed_urls_are_invalid(api: APIClient, url: str) -> None:
    answer = _create(api, url)
    assert answer.status_code == 400
    assert answer.json()["code"] in ("webhook_url_invalid", "validation_error")


def test_unresolvable_host(api: APIClient) -> None:
    answer = _create(api, "https://no-such-host.invalid/hook")
    assert answer.status_code == 400
    assert answer.json()["code"] == "webhook_url_unresolvable"


@pytest.mark.parametrize(
    ("events", "code"),
    [(["asset.exploded"], "validation_error"), ([], "validation_error"), ("x", "validation_error")],
)
def test_bad_event_lists(api: APIClient, events: Any, code: str) -> None:
    answer = _create(api, PUBLIC_URL, events=events)
    assert answer.status_code == 400
    assert answer.json()["code"] == code


def test_refusal_over_address_kinds() -> None:
    """Every address of a special-purpose block is refused; public ones are not."""
    for network, allowed_with_setting in (
        ("127.0.0.0/8", True),
        ("10.0.0.0/8", True),
        ("192.168.0.0/16", True),
        ("172.16.0.0/12", True),
        ("fc00::/7", True),
        ("169.254.0.0/16", False),
        ("fe80::/10", False),
        ("224.0.0.0/4", False),
    ):
        net = ipaddress.ip_network(network)
        samples = [net[0], net[1], net[net.num_addresses // 2], net[-2]]
        for ip in samples:
            mapped = (
                [ipaddress.IPv6Address(f"::ffff:{ip}")]
                if isinstance(ip, ipaddress.IPv4Address)
                else []
            )
            for address in [ip, *mapped]:
                assert refusal(address, allow_private=False), address
                assert (refusal(address, allow_private=True) is None) == allowed_with_setting, (
                    address
                )
    for public in ("93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"):
        assert refusal(ipaddress.ip_address(public), allow_private=False) is None


def test_secret_shown_once_and_never_again(api: APIClient) -> None:
    created = _create(api, PUBLIC_URL, events=["asset.ready"])
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert len(base64.b64decode(body["secret"].removeprefix("whsec_"))) == 32
    assert body["events"] == ["asset.ready"]
    listed = api.get("/api/webhooks/").json()
    assert listed["count"] == 1
    detail = api.get(f"/api/webhooks/{body['id']}/").json()
    for shown in (listed["results"][0], detail):
        assert "secret" not in shown
        assert body["secret"] not in json.dumps(shown)
    # Every event when none are named; a second webhook has its own secret.
    other = _create(api, PUBLIC_URL).json()
    assert other["events"] == ["asset.ready", "asset.failed", "asset.deleted"]
    assert other["secret"] != body["secret"]


def test_other_users_webhooks_are_not_found(api: APIClient, other_api: APIClient) -> None:
    hook = _create(api, PUBLIC_URL).json()
    for route in ("", "deliveries/"):
        answer = other_api.get(f"/api/webhooks/{hook['id']}/{route}")
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"
    assert other_api.delete(f"/api/webhooks/{hook['id']}/").status_code == 404
    assert other_api.get("/api/webhooks/").json()["count"] == 0
    assert api.delete(f"/api/webhooks/{hook['id']}/").status_code == 204
    assert api.get(f"/api/webhooks/{hook['id']}/").status_code == 404


def _upload(owner: User, path: Path) -> Asset:
    upload = SimpleUploadedFile(path.name, path.read_bytes(), "image/x-adobe-dng")
    asset, _ = asset_create(owner=owner, file=upload)
    return asset


def _messages(owner: User) -> list[dict[str, Any]]:
    rows = WebhookMessage.objects.filter(webhook__owner=owner).order_by("created_at", "id")
    return [json.loads(row.body) for row in rows]


def test_each_change_records_its_event_for_the_owner_only(
    user: User,
    other_user: User,
    dng_factory: Callable[..., Path],
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.RAWPROC_PUBLIC_URL = "https://photos.example.com/"
    mine = webhook_create(owner=user, url=PUBLIC_URL, events=["asset.ready", "asset.deleted"])
    all_mine = webhook_create(
        owner=user, url=PUBLIC_URL, events=["asset.deleted", "asset.failed", "asset.ready"]
    )
    theirs = webhook_create(owner=other_user, url=PUBLIC_URL, events=["asset.ready"])

    ready = process_now(str(_upload(user, dng_factory("a.dng", seed=1)).pk))
    assert ready.status == "ready"
    failed = _upload(user, dng_factory("b.dng", seed=2))
    _finish_failed(failed.pk, failed.task_id, "unsupported_format", "Not a RAW file.")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        asset_delete(asset=ready)
    assert callbacks  # the send waits for the commit

    mine_types = [m.event_type for m in mine.messages.order_by("created_at")]
    all_types = [m.event_type for m in all_mine.messages.order_by("created_at")]
    assert mine_types == ["asset.ready", "asset.deleted"]
    assert all_types == ["asset.ready", "asset.failed", "asset.deleted"]
    assert not theirs.messages.exists()

    # One event id per event, shared by the webhooks; the payload as the asset was then.
    for event_type in ("asset.ready", "asset.deleted"):
        ids = set(
            WebhookMessage.objects.filter(event_type=event_type).values_list("event_id", flat=True)
        )
        assert len(ids) == 1 and ids.pop().startswith("msg_")
    payloads = {p["type"]: p for p in _messages(user)}
    assert set(payloads) == {"asset.ready", "asset.failed", "asset.deleted"}
    for payload in payloads.values():
        assert set(payload) == {"type", "timestamp", "data"}
        assert payload["timestamp"].endswith("Z")
    assert payloads["asset.ready"]["data"] == {
        "id": str(ready.pk),
        "status": "ready",
        "url": f"https://photos.example.com/api/assets/{ready.pk}/",
        "original_filename": "a.dng",
        "error": None,
    }
    assert payloads["asset.failed"]["data"]["status"] == "failed"
    assert payloads["asset.failed"]["data"]["error"] == {
        "code": "unsupported_format",
        "message": "Not a RAW file.",
    }
    assert payloads["asset.deleted"]["data"]["id"] == str(ready.pk)
    assert not Asset.objects.filter(pk=ready.pk).exists()


def test_rolled_back_change_sends_nothing(
    user: User, dng_factory: Callable[..., Path], django_capture_on_commit_callbacks: Any
) -> None:
    webhook_create(owner=user, url=PUBLIC_URL, events=["asset.deleted"])
    asset = _upload(user, dng_factory(seed=3))
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        webhook_event_emit(asset, "asset.deleted")
        raise RuntimeError("rolled back")
    assert not callbacks
    assert not WebhookMessage.objects.exists()


def _message(user: User, url: str, settings: Any, event: str = "asset.ready") -> WebhookMessage:
    settings.RAWPROC_WEBHOOK_ALLOW_PRIVATE = True
    hook = webhook_create(owner=user, url=url, events=[event])
    asset = Asset.objects.create(owner=user, original_filename="x.dng", size=1, status="ready")
    with transaction.atomic():
        webhook_event_emit(asset, event)
    return hook.messages.get()


def _deliveries(message: WebhookMessage) -> list[WebhookDelivery]:
    return list(message.deliveries.order_by("attempt"))


def test_delivery_signed_and_retried_until_a_2xx(user: User, settings: Any) -> None:
    settings.RAWPROC_WEBHOOK_RETRY_SCHEDULE = [30, 120]
    with receiver([500, 503, 200]) as hook_server:
        message = _message(user, hook_server.url, settings)
        secret = message.webhook.secret
        assert webhook_message_deliver(message_id=message.pk) == 30
        # Not due yet: a repeated broker message sends nothing.
        assert webhook_message_deliver(message_id=message.pk) is None
        assert webhook_send_due() == 0
        for expected in (120, None):
            WebhookMessage.objects.filter(pk=message.pk).update(
                next_attempt_at=timezone.now() - timedelta(seconds=1)
            )
            assert webhook_send_due(now=timezone.now() + timedelta(seconds=5)) >= 0
            assert webhook_message_deliver(message_id=message.pk) == expected
        received = hook_server.requests
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert [(d.attempt, d.status_code, d.succeeded) for d in _deliveries(message)] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert _deliveries(message)[0].next_attempt_at is not None
    assert _deliveries(message)[-1].next_attempt_at is None
    assert len(received) == 3
    ids = {request.headers["webhook-id"] for request in received}
    assert ids == {message.event_id}
    for request in received:
        verified = StandardWebhook(secret).verify(request.body, request.headers)
        assert verified["type"] == "asset.ready"
        assert request.body == message.body.encode()
    tampered = dict(received[0].headers, **{"webhook-id": "msg_other"})
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(secret).verify(received[0].body, tampered)


def test_gives_up_after_the_schedule(user: User, settings: Any) -> None:
    settings.RAWPROC_WEBHOOK_RETRY_SCHEDULE = [1]
    with receiver([500]) as hook_server:
        message = _message(user, hook_server.url, settings)
        assert webhook_message_deliver(message_id=message.pk) == 1
        WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        assert webhook_message_deliver(message_id=message.pk) is None
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert [d.status_code for d in _deliveries(message)] == [500, 500]
    assert webhook_message_deliver(message_id=message.pk) is None
    assert len(_deliveries(message)) == 2


@pytest.mark.parametrize("answer", [301, 302, 307, 404, 410, 500])
def test_non_2xx_and_redirects_are_failures(user: User, settings: Any, answer: int) -> None:
    with receiver([answer]) as hook_server:
        message = _message(user, hook_server.url, settings)
        assert webhook_message_deliver(message_id=message.pk) is not None
        assert len(hook_server.requests) == 1  # a redirect is not followed
    (delivery,) = _deliveries(message)
    assert delivery.status_code == answer
    assert not delivery.succeeded
    assert delivery.error == f"HTTP {answer}"


def test_timeout_is_a_failure(user: User, settings: Any) -> None:
    settings.RAWPROC_WEBHOOK_READ_TIMEOUT = 0.3
    with receiver([200], delay=1.5) as hook_server:
        message = _message(user, hook_server.url, settings)
        assert webhook_message_deliver(message_id=message.pk) is not None
    (delivery,) = _deliveries(message)
    assert delivery.status_code is None
    assert delivery.error.startswith("timeout")


def test_address_checked_again_when_sending(user: User, settings: Any) -> None:
    """A webhook accepted while private addresses were allowed (or whose name now resolves
    to one) is not sent there."""
    with receiver([200]) as hook_server:
        message = _message(user, hook_server.url.replace("127.0.0.1", "localhost"), settings)
        settings.RAWPROC_WEBHOOK_ALLOW_PRIVATE = False
        webhook_message_deliver(message_id=message.pk)
        assert hook_server.requests == []
    (delivery,) = _deliveries(message)
    assert delivery.error.startswith("webhook_url_")
    assert not delivery.succeeded


def test_deleted_webhook_stops_its_retries(user: User, settings: Any) -> None:
    with receiver([500]) as hook_server:
        message = _message(user, hook_server.url, settings)
        assert webhook_message_deliver(message_id=message.pk) is not None
        webhook_delete(webhook=message.webhook)
        assert webhook_message_deliver(message_id=message.pk) is None
        assert webhook_send_due(now=timezone.now() + timedelta(days=2)) == 0
        assert len(hook_server.requests) == 1


def test_deliveries_listed(api: APIClient, user: User, settings: Any) -> None:
    with receiver([500, 200]) as hook_server:
        message = _message(user, hook_server.url, settings)
        webhook_message_deliver(message_id=message.pk)
        WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        webhook_message_deliver(message_id=message.pk)
    listed = api.get(f"/api/webhooks/{message.webhook_id}/deliveries/").json()
    assert listed["count"] == 2
    newest, oldest = listed["results"]
    assert (oldest["attempt"], oldest["status_code"], oldest["succeeded"]) == (1, 500, False)
    assert (newest["attempt"], newest["status_code"], newest["succeeded"]) == (2, 200, True)
    for row in listed["results"]:
        assert row["event_id"] == message.event_id
        assert row["event_type"] == "asset.ready"
        assert row["message_status"] == "delivered"
        assert row["duration_ms"] >= 0
    assert oldest["next_attempt_at"] is not None


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` (openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_checks_the_certificate_against_the_url_host(
    user: User, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection goes to the checked IP, yet TLS names and verifies the URL's host: an
    untrusted certificate fails the attempt, a trusted one for that name succeeds."""
    cert, key = _certificate(tmp_path)
    with receiver([200], tls=(cert, key)) as hook_server:
        message = _message(user, hook_server.url, settings)
        assert webhook_message_deliver(message_id=message.pk) is not None
        assert hook_server.requests == []
        (refused,) = _deliveries(message)
        assert refused.error.startswith("tls:"), refused.error
        assert "CERTIFICATE_VERIFY_FAILED" in refused.error

        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        assert webhook_message_deliver(message_id=message.pk) is None
        (request,) = hook_server.requests
    assert request.headers["Host"] == hook_server.url.split("/")[2]
    StandardWebhook(message.webhook.secret).verify(request.body, request.headers)
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
