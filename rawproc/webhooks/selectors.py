"""Reads: scoped to the requesting owner, so another user's webhook is a 404."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import Http404

from rawproc.webhooks.models import Webhook, WebhookDelivery


def webhook_list(*, owner: User) -> QuerySet[Webhook]:
    return Webhook.objects.filter(owner=owner).order_by("-created_at", "id")


def webhook_get(*, owner: User, webhook_id: UUID | str) -> Webhook:
    webhook = Webhook.objects.filter(owner=owner, pk=webhook_id).first()
    if webhook is None:
        raise Http404("No such webhook.")
    return webhook


def webhook_delivery_list(*, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    """Every attempt to send the webhook's events, newest first."""
    return (
        WebhookDelivery.objects.filter(message__webhook=webhook)
        .select_related("message")
        .order_by("-attempted_at", "-id")
    )
