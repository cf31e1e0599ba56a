"""Webhook events leave a run through the outbox: each is delivered by deliver_webhook,
started without holding up the run, in order per endpoint, and awaited before the run ends.
Each event has a row in `deliveries` that says how it went.

The first attempt of an event that opens no round for review (task_completed,
crew_completed, steps; reminders come while the round already waits in history) is a local
activity, made inside the workflow task that sent it: a delivery that succeeds at
once (nearly all) costs no activity task and no workflow task of its own — six history events
and two server dispatches fewer per webhook. Its retries, which may be hours apart, are a
regular activity whose schedule the server keeps. A request for review is always a regular
activity (AFTER_THE_WAIT_IS_RECORDED)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import FINAL_ERRORS, RETRY_IN, WebhookActivities
    from crew_hitl.contracts.history import (
        LOCAL_FIRST_ATTEMPT,
        DeliverWebhookInput,
        DeliveryResult,
        RetrySettings,
        WebhookTarget,
    )
    from crew_hitl.contracts.status import DeliveryRecord

from workflows.record import RunRecord

# Histories from before this patch made every attempt a regular activity.
LOCAL_FIRST_ATTEMPT_PATCH = "webhook-first-attempt-local"
# Events that tell someone a round waits for them (a stream's batch may carry one) go out
# only as regular activities, scheduled once the waiting is in history: a local activity
# delivers before its workflow task is, and a reviewer who answered at once while the worker
# died in between had a decision arrive before the round it was for, and ignored (seen in
# the random-kill fault test).
AFTER_THE_WAIT_IS_RECORDED = {"human_input_requested", "events"}


class Outbox:
    def __init__(
        self, retry: RetrySettings, record: RunRecord, gone: list[str] | None = None
    ) -> None:
        self._retry = retry
        self._record = record
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._gone: set[str] = set(gone or [])
        self._unfinished: dict[str, DeliverWebhookInput] = {}
        self._local_first = False

    def start(self, behaviour_version: int) -> None:
        """Called first thing in a run: whether its deliveries make their first attempt as a
        local activity, decided once where the run starts (a patch asked from inside a
        delivery's task was replayed out of place when a local activity was still running).
        A run whose input says so is not asked the patch, and records no marker for it."""
        self._local_first = behaviour_version >= LOCAL_FIRST_ATTEMPT or workflow.patched(
            LOCAL_FIRST_ATTEMPT_PATCH
        )

    @property
    def gone(self) -> set[str]:
        """Endpoints (WebhookTarget.endpoint) that answered 410 Gone: nothing more goes to them
        in this run."""
        return self._gone

    def idle(self) -> bool:
        return all(tail.done() for tail in self._tails.values())

    def send(
        self, target: WebhookTarget | None, event: str, body: dict[str, Any], log: bool = True
    ) -> None:
        """Log the event for /events (unless `log` is False: a batch of events already
        logged), and deliver it when its webhook is configured."""
        webhook_id = f"msg_{workflow.uuid4().hex}"
        if log:
            self._record.log_event(webhook_id, event, body)
        if target is None:
            return
        record = DeliveryRecord(event=event, url=target.url, webhook_id=webhook_id)
        self._record.deliveries.append(record)
        delivery = DeliverWebhookInput(
            target=target,
            webhook_id=webhook_id,
            event=event,
            body=body,
            timeout_seconds=self._retry.timeout_seconds,
            retry_schedule=self._retry.schedule_seconds,
        )
        self._enqueue(delivery, record)

    def resend(self, undelivered: list[DeliverWebhookInput]) -> None:
        """Deliver again, same webhook-id, what an earlier run of this workflow handed over
        undelivered when it continued as new."""
        rows = {row.webhook_id: row for row in self._record.deliveries}
        for delivery in undelivered:
            record = rows.get(delivery.webhook_id)
            if record is None:
                record = DeliveryRecord(
                    event=delivery.event, url=delivery.target.url, webhook_id=delivery.webhook_id
                )
                self._record.deliveries.append(record)
            self._enqueue(delivery, record)

    def undelivered(self) -> list[DeliverWebhookInput]:
        """Deliveries not yet ended, in the order they were sent."""
        return list(self._unfinished.values())

    def _enqueue(self, delivery: DeliverWebhookInput, record: DeliveryRecord) -> None:
        if delivery.target.endpoint in self._gone:
            record.state = "skipped"
            record.last_error = "the endpoint answered 410 Gone earlier in this run"
            return
        self._unfinished[delivery.webhook_id] = delivery
        endpoint = delivery.target.endpoint
        previous = self._tails.get(endpoint)
        self._tails[endpoint] = asyncio.create_task(self._deliver(previous, delivery, record))

    async def drain(self) -> None:
        if self._tails:
            await workflow.wait(list(self._tails.values()))

    async def _deliver(
        self,
        previous: asyncio.Task[None] | None,
        delivery: DeliverWebhookInput,
        record: DeliveryRecord,
    ) -> None:
        if previous is not None and not previous.done():
            await workflow.wait([previous])
        try:
            await self._attempt(delivery, record)
        finally:
            self._unfinished.pop(delivery.webhook_id, None)

    async def _attempt(self, delivery: DeliverWebhookInput, record: DeliveryRecord) -> None:
        if delivery.target.endpoint in self._gone:
            record.state = "skipped"
            record.last_error = "the endpoint answered 410 Gone earlier in this run"
            return
        timeout = timedelta(seconds=delivery.timeout_seconds + 5)
        try:
            if self._local_first and delivery.event not in AFTER_THE_WAIT_IS_RECORDED:
                retry_in = await self._first_attempt(delivery, timeout, record)
                if retry_in is None:
                    return
                await workflow.sleep(retry_in)
                delivery = delivery.model_copy(update={"first_attempt": 2})
            attempts_left = len(delivery.retry_schedule) + 2 - delivery.first_attempt
            result: DeliveryResult = await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                delivery,
                start_to_close_timeout=timeout,
                retry_policy=RetryPolicy(
                    maximum_attempts=attempts_left, non_retryable_error_types=FINAL_ERRORS
                ),
            )
        except FailureError as err:
            if is_cancelled_exception(err):
                raise
            self._gave_up(record, err, delivery.target.endpoint)
            return
        self._delivered(record, result)

    async def _first_attempt(
        self, delivery: DeliverWebhookInput, timeout: timedelta, record: DeliveryRecord
    ) -> float | None:
        """One attempt as a local activity: None when it delivered, the seconds until the next
        attempt when there is one; the attempt's error when the delivery ends here undelivered
        (a local activity's own, not wrapped in an ActivityError)."""
        try:
            result: DeliveryResult = await workflow.execute_local_activity_method(
                WebhookActivities.deliver_webhook,
                delivery,
                start_to_close_timeout=timeout,
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except FailureError as err:  # a local activity's error comes unwrapped
            if is_cancelled_exception(err):
                raise
            details = failure_details(err)
            if RETRY_IN in details:
                return float(details[RETRY_IN])
            if is_final(err) or not delivery.retry_schedule:
                raise
            return float(delivery.retry_schedule[0])  # the attempt timed out: no wait said
        self._delivered(record, result)
        return None

    def _delivered(self, record: DeliveryRecord, result: DeliveryResult) -> None:
        record.state = "delivered"
        record.attempts = result.attempts
        record.last_status = result.status_code
        record.delivered_at = workflow.now()
        self._record.touch()

    def _gave_up(self, record: DeliveryRecord, err: FailureError, endpoint: str) -> None:
        cause = failure_cause(err)
        details = failure_details(err)
        record.state = "gave_up"
        record.attempts = int(details.get("attempt") or 0)
        record.last_status = details.get("status")
        record.last_error = str(details.get("error") or getattr(cause, "message", err))
        record.gave_up_at = workflow.now()
        if isinstance(cause, ApplicationError) and cause.type == "WebhookGone":
            self._gone.add(endpoint)
        self._record.touch()
        workflow.logger.warning(
            "gave up delivering %s to %s: %s", record.event, record.url, record.last_error
        )


def failure_cause(err: FailureError) -> BaseException | None:
    return err.cause if isinstance(err, ActivityError) else err


def failure_details(err: FailureError) -> dict[str, Any]:
    """What deliver_webhook said of a failed attempt (attempt, status, error, retry_in)."""
    cause = failure_cause(err)
    details = cause.details[0] if isinstance(cause, ApplicationError) and cause.details else {}
    return details if isinstance(details, dict) else {}


def is_final(err: FailureError) -> bool:
    cause = failure_cause(err)
    return isinstance(cause, ApplicationError) and (
        cause.non_retryable or cause.type in FINAL_ERRORS
    )
