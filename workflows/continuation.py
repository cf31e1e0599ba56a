"""Continue-as-new for long review loops: when a run hands over to a fresh history, and what
it carries there (the record, trimmed where it only grows, the webhooks as the last resume left
them, and the deliveries still under way, sent again with the same webhook-id)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from crew_hitl.contracts.history import (
        CarriedRun,
        CrewRunInput,
        DeliverWebhookInput,
        WebhookTargets,
    )
    from crew_hitl.contracts.status import TaskProgress
    from crew_hitl.text import shortened

from workflows.outbox import Outbox
from workflows.record import RunRecord

T = TypeVar("T")


def should_continue(run: CrewRunInput, outbox: Outbox) -> bool:
    """Whether to hand over now, between rounds: when the server suggests it, preferably with
    no webhook under way, but past force_continue_after_events with the undelivered ones (a
    receiver that stays down must not let the history reach Temporal's limit of 51,200
    events)."""
    info = workflow.info()
    if not info.is_continue_as_new_suggested():
        return False
    forced = info.get_current_history_length() >= run.force_continue_after_events
    return outbox.idle() or forced


def continuation_input(
    run: CrewRunInput, record: RunRecord, webhooks: WebhookTargets, outbox: Outbox
) -> CrewRunInput | None:
    """The next run's input, trimmed until it fits the budget; None if it cannot."""
    for limits in CARRY_LEVELS:
        carried = carried_state(record, webhooks, outbox.gone, outbox.undelivered(), limits)
        continuation = run.model_copy(update={"carried": carried})
        if len(continuation.model_dump_json().encode()) <= CARRY_BUDGET_BYTES:
            return continuation
    workflow.logger.warning(
        "run %s cannot continue as new: its state does not fit in %d bytes",
        run.kickoff_id,
        CARRY_BUDGET_BYTES,
    )
    return None


def carried_state(
    record: RunRecord,
    webhooks: WebhookTargets,
    gone_urls: set[str],
    undelivered: list[DeliverWebhookInput],
    limits: CarryLimits,
) -> CarriedRun:
    """The state a continuation starts from, trimmed to the given limits."""
    per_task = limits.output_bytes // max(1, len(record.tasks))
    tasks = [
        trimmed_progress(t, per_task, limits.full_feedback_rounds) for t in record.tasks.values()
    ]
    events = record.events[len(record.events) - min(limits.events, len(record.events)) :]
    kept = latest_within(
        events, lambda e: len(json.dumps(e.data, default=str).encode()), limits.event_bytes
    )
    latest = {d.webhook_id for d in record.deliveries[len(record.deliveries) - limits.deliveries :]}
    return CarriedRun(
        started_at=record.started_at,
        tasks=tasks,
        current_task=record.current_task,
        notes=record.notes,
        audit=record.audit[len(record.audit) - min(limits.audit, len(record.audit)) :],
        deliveries=[d for d in record.deliveries if d.webhook_id in latest or d.state == "pending"],
        events=events[len(events) - kept :] if limits.events else [],
        version=record.version + 1,
        last_executed=record.last_executed,
        token_usage=record.token_usage,
        webhooks=webhooks,
        gone_urls=sorted(gone_urls),
        undelivered=undelivered,
        continued=record.continued + 1,
    )


@dataclass(frozen=True)
class CarryLimits:
    """How much of the logs that only grow a continuation carries."""

    events: int
    event_bytes: int
    deliveries: int
    audit: int
    output_bytes: int
    full_feedback_rounds: int | None


# Tried in order until the continuation's input fits in CARRY_BUDGET_BYTES, well under
# Temporal's 2 MB payload limit. Rows of deliveries still under way are always carried.
CARRY_LEVELS = (
    CarryLimits(200, 256 * 1024, 200, 500, 256 * 1024, None),
    CarryLimits(20, 32 * 1024, 20, 100, 64 * 1024, 50),
    CarryLimits(0, 0, 0, 20, 0, 10),
)
CARRY_BUDGET_BYTES = 1536 * 1024


def trimmed_progress(
    progress: TaskProgress, output_bytes: int, full_feedback_rounds: int | None
) -> TaskProgress:
    """A task's progress with only its latest outputs (within the budget) in full, and with
    full_feedback_rounds set, only the latest feedback in full; the rest as excerpts."""
    copy = progress.model_copy(deep=True)
    reviews = copy.rounds
    full = latest_within(reviews, lambda r: len(r.output.encode()), output_bytes)
    for review in reviews[: len(reviews) - full]:
        review.output = shortened(review.output)
    if full_feedback_rounds is not None:
        for review in reviews[: max(0, len(reviews) - full_feedback_rounds)]:
            review.feedback = shortened(review.feedback) if review.feedback else review.feedback
    return copy


def latest_within(items: Sequence[T], size: Callable[[T], int], budget: int) -> int:
    """How many of the latest items fit in the budget (at least one, when there is one)."""
    count, total = 0, 0
    for item in reversed(items):
        total += size(item)
        if count and total > budget:
            break
        count += 1
    return count
