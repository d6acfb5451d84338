"""Celery tasks: thin wrappers around the delivery service."""

from __future__ import annotations

from celery import shared_task

from anvil_voice.webhooks.models import DeliveryStatus


@shared_task(acks_late=True, ignore_result=True)
def webhook_deliver_task(delivery_id: int) -> None:
    from anvil_voice.webhooks import services

    delivery = services.webhook_deliver(delivery_id=delivery_id)
    if (
        delivery is not None
        and delivery.status == DeliveryStatus.PENDING
        and delivery.next_retry_at is not None
    ):
        # The retry is its own message, due at the backoff time; the claim in the service
        # makes an early or duplicate run a no-op.
        webhook_deliver_task.apply_async((delivery_id,), eta=delivery.next_retry_at)


@shared_task(ignore_result=True)
def webhook_retry_due_task() -> int:
    """For celery beat: re-enqueue due retries whose message was lost (e.g. a broker restart)."""
    from anvil_voice.webhooks import services

    due = services.webhook_due_delivery_ids()
    for delivery_id in due:
        webhook_deliver_task.delay(delivery_id)
    return len(due)
