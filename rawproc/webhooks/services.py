"""Writes: registering and deleting webhooks, emitting events, sending one attempt."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from rawproc.models import Asset
from rawproc.services.errors import ServiceError
from rawproc.webhooks.addresses import UrlRefused, check_url
from rawproc.webhooks.models import (
    EventType,
    MessageStatus,
    Webhook,
    WebhookDelivery,
    WebhookMessage,
)
from rawproc.webhooks.sender import new_secret, send

logger = logging.getLogger(__name__)

ASSET_READY = EventType.ASSET_READY
ASSET_FAILED = EventType.ASSET_FAILED
ASSET_DELETED = EventType.ASSET_DELETED
MAX_WEBHOOKS_PER_USER = 20
# Delays up to this are waited for by the broker (a countdown); longer ones by the sweep
# (``webhook_send_due``), so no message waits in a worker beyond the Redis visibility timeout.
COUNTDOWN_MAX_SECONDS = 300
SWEEP_BATCH = 500
# A message arriving this much before its attempt is due (clocks of machines differ by a
# little) still makes it; claimed attempts are pushed far further ahead than this.
EARLY_TOLERANCE = timedelta(seconds=2)


class WebhookUrlRefused(ServiceError):
    """The URL is malformed, does not resolve, or reaches a forbidden address."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class WebhookLimitReached(ServiceError):
    code = "webhook_limit_reached"


def webhook_create(*, owner: User, url: str, events: Iterable[str]) -> Webhook:
    """Register ``url`` for the owner's ``events``, with a new ``whsec_`` secret."""
    try:
        check_url(url, allow_private=settings.RAWPROC_WEBHOOK_ALLOW_PRIVATE)
    except UrlRefused as exc:
        raise WebhookUrlRefused(exc.code, exc.message) from None
    if Webhook.objects.filter(owner=owner).count() >= MAX_WEBHOOKS_PER_USER:
        raise WebhookLimitReached(f"A user may register at most {MAX_WEBHOOKS_PER_USER} webhooks.")
    return Webhook.objects.create(
        owner=owner,
        url=url,
        events=sorted(set(events), key=list(EventType.values).index),
        secret=new_secret(),
    )


def webhook_delete(*, webhook: Webhook) -> None:
    """Remove the webhook with its messages and deliveries; pending retries stop."""
    webhook.delete()


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def asset_event_payload(asset: Asset, event_type: str, *, at: datetime) -> dict[str, Any]:
    """The Standard Webhooks payload: ``type``, ``timestamp`` and ``data``."""
    error = {"code": asset.error_code, "message": asset.error_message} if asset.error_code else None
    path = reverse("asset-detail", args=[asset.pk])
    return {
        "type": event_type,
        "timestamp": _timestamp(at),
        "data": {
            "id": str(asset.pk),
            "status": asset.status,
            "url": settings.RAWPROC_PUBLIC_URL.rstrip("/") + path,
            "original_filename": asset.original_filename,
            "error": error,
        },
    }


def webhook_event_emit(asset: Asset, event_type: str) -> None:
    """Record the event for every webhook of the asset's owner that takes it, and send it
    once the current transaction commits (nothing when it rolls back).

    The payload is what the asset is now; one event id (``webhook-id``) for all webhooks
    and all attempts.
    """
    webhooks = [
        hook
        for hook in Webhook.objects.filter(owner_id=asset.owner_id)
        if event_type in hook.events
    ]
    if not webhooks:
        return
    now = timezone.now()
    body = json.dumps(asset_event_payload(asset, event_type, at=now), separators=(",", ":"))
    event_id = f"msg_{uuid.uuid4().hex}"
    messages = WebhookMessage.objects.bulk_create(
        WebhookMessage(
            webhook=hook, event_id=event_id, event_type=event_type, body=body, next_attempt_at=now
        )
        for hook in webhooks
    )
    ids = [message.pk for message in messages]
    # robust: a broker outage must not undo the change; the sweep sends the messages later.
    transaction.on_commit(lambda: _enqueue(ids), robust=True)


def _enqueue(message_ids: list[int], countdown: float = 0) -> None:
    from rawproc.webhooks.tasks import deliver_webhook

    for message_id in message_ids:
        deliver_webhook.apply_async(
            args=(message_id,),
            countdown=countdown,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        )


def retry_schedule() -> tuple[int, ...]:
    return tuple(settings.RAWPROC_WEBHOOK_RETRY_SCHEDULE)


def webhook_message_deliver(*, message_id: int) -> float | None:
    """Make the attempt that is due for the message and record it; safe to call any number
    of times. Returns the seconds until the next attempt, or ``None`` when none follows
    (delivered, given up, deleted, or nothing was due).

    The attempt is claimed first (its number taken, the next one pushed past the time an
    attempt may take), so two workers given the same message never send it together, and
    an attempt whose worker died is made again by the sweep once that time has passed.
    """
    connect_timeout = settings.RAWPROC_WEBHOOK_CONNECT_TIMEOUT
    read_timeout = settings.RAWPROC_WEBHOOK_READ_TIMEOUT
    started = timezone.now()
    with transaction.atomic():
        message = (
            WebhookMessage.objects.select_for_update(of=("self",))
            .select_related("webhook")
            .filter(pk=message_id, status=MessageStatus.PENDING)
            .first()
        )
        if message is None:
            return None
        if (
            message.next_attempt_at is not None
            and message.next_attempt_at > started + EARLY_TOLERANCE
        ):
            return None  # a repeated broker message, or one sent early
        message.attempts += 1
        message.next_attempt_at = started + timedelta(seconds=connect_timeout + read_timeout + 60)
        message.save(update_fields=["attempts", "next_attempt_at"])
    webhook = message.webhook
    result = send(
        webhook.url,
        secret=webhook.secret,
        message_id=message.event_id,
        body=message.body.encode(),
        allow_private=settings.RAWPROC_WEBHOOK_ALLOW_PRIVATE,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    schedule = retry_schedule()
    delay: float | None = None
    with transaction.atomic():
        if not WebhookMessage.objects.select_for_update().filter(pk=message.pk).exists():
            return None  # the webhook was deleted meanwhile
        if result.ok:
            message.status = MessageStatus.DELIVERED
            message.next_attempt_at = None
        elif message.attempts <= len(schedule):
            delay = float(schedule[message.attempts - 1])
            message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        else:
            message.status = MessageStatus.FAILED
            message.next_attempt_at = None
        message.save(update_fields=["status", "next_attempt_at"])
        WebhookDelivery.objects.create(
            message=message,
            attempt=message.attempts,
            attempted_at=started,
            status_code=result.status_code,
            succeeded=result.ok,
            error=result.error,
            response_body=result.response_body,
            duration_ms=result.duration_ms,
            next_attempt_at=message.next_attempt_at,
        )
    log = logger.info if result.ok else logger.warning
    log(
        "webhook %s %s attempt %d: %s",
        webhook.pk,
        message.event_id,
        message.attempts,
        result.status_code or result.error,
    )
    return delay


def webhook_retry_later(*, message_id: int, delay: float) -> None:
    """Send the message's next attempt after ``delay`` through the broker when the delay is
    short; a longer one is left to the sweep."""
    if delay <= COUNTDOWN_MAX_SECONDS:
        _enqueue([message_id], countdown=max(delay, 0.001))


def webhook_send_due(*, now: datetime | None = None) -> int:
    """Send the messages whose attempt is due: long retry delays, messages the broker lost
    or never got, attempts whose worker died. Returns how many were sent."""
    now = now or timezone.now()
    due = list(
        WebhookMessage.objects.filter(status=MessageStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    if due:
        _enqueue(due)
    return len(due)
