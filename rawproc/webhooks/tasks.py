"""Celery tasks: thin wrappers over the webhook services, on the default queue."""

from __future__ import annotations

from celery import shared_task

from rawproc.webhooks.services import webhook_message_deliver, webhook_retry_later, webhook_send_due


@shared_task(name="rawproc.deliver_webhook", acks_late=True)
def deliver_webhook(message_id: int) -> None:
    delay = webhook_message_deliver(message_id=message_id)
    if delay is not None:
        webhook_retry_later(message_id=message_id, delay=delay)


@shared_task(name="rawproc.webhooks_send_due")
def send_due_webhooks() -> int:
    return webhook_send_due()
