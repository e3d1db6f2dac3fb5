"""Celery wiring: delivery guarantees and queue routing of the processing task."""

from __future__ import annotations

from django.conf import settings

from config.celery import app
from rawproc.tasks import process_asset


def test_processing_task_is_acknowledged_late_and_rejected_on_worker_loss() -> None:
    assert process_asset.acks_late is True
    assert process_asset.reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit


def test_processing_goes_to_the_decode_queue_only() -> None:
    route = app.amqp.router.route({}, process_asset.name, args=("x",))
    queue = route["queue"]
    assert queue.name == settings.RAWPROC_DECODE_QUEUE
    # Bindings must differ per queue, or a direct exchange copies a message into both.
    bindings = {(q.exchange.name, q.routing_key) for q in app.amqp.queues.values()}
    assert len(bindings) == len(app.amqp.queues)
    assert (queue.exchange.name, queue.routing_key) in bindings
