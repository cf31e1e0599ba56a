"""Webhook events leave a run through the outbox: each is one deliver_webhook activity,
started without holding up the run, in order per endpoint, and awaited before the run ends."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from crew_hitl.activities.webhooks import WebhookActivities
    from crew_hitl.crew.messages import DeliverWebhookInput, RetrySettings, WebhookTarget


class Outbox:
    def __init__(self, retry: RetrySettings) -> None:
        self._retry = retry
        self._tails: dict[str, asyncio.Task[None]] = {}

    def send(self, target: WebhookTarget | None, event: str, body: dict[str, Any]) -> None:
        if target is None:
            return
        delivery = DeliverWebhookInput(
            target=target,
            webhook_id=f"msg_{workflow.uuid4().hex}",
            event=event,
            body=body,
            timeout_seconds=self._retry.timeout_seconds,
        )
        previous = self._tails.get(target.url)
        self._tails[target.url] = asyncio.create_task(self._deliver(previous, delivery))

    async def drain(self) -> None:
        if self._tails:
            await asyncio.wait(list(self._tails.values()))

    async def _deliver(self, previous: asyncio.Task[None] | None, delivery: DeliverWebhookInput):
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        retry = self._retry
        try:
            await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                delivery,
                start_to_close_timeout=timedelta(seconds=retry.timeout_seconds + 5),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=retry.initial_interval_seconds),
                    maximum_interval=timedelta(seconds=retry.max_interval_seconds),
                    maximum_attempts=retry.max_attempts,
                    non_retryable_error_types=["WebhookRejected", "SealError"],
                ),
            )
        except ActivityError as err:
            workflow.logger.warning(
                "gave up delivering %s to %s: %s",
                delivery.event,
                delivery.target.url,
                err.cause or err,
            )
