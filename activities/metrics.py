"""What the worker's activities count (webhook deliveries, model calls), as prometheus_client
instruments in the worker's registry. Activities are not replayed, so they record directly;
the workflow records through Temporal's metric meter instead (workflows/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from crew_hitl import metrics as m
from crew_hitl.contracts.status import TokenUsage
from crew_hitl.instruments import counter, histogram

# A delivery attempt's outcome; every outcome but FAILED ends the delivery.
DELIVERED, FAILED, REJECTED, REFUSED, GAVE_UP = (
    "delivered",
    "failed",
    "rejected",
    "refused",
    "gave_up",
)
# A model call's outcome (CrewAI reports a failed call without saying why: failed).
MODEL_OK, MODEL_BUSY, MODEL_REFUSED = "ok", "busy", "refused"
MODEL_UNREACHABLE, MODEL_FAILED = "unreachable", "failed"
UNNAMED_MODEL = "unnamed"


@dataclass(frozen=True)
class ActivityMetrics:
    deliveries: Counter
    delivery_attempts: Histogram
    model_calls: Counter
    model_duration: Histogram
    model_tokens: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> ActivityMetrics:
        """In `registry`, or in one of their own (tests that build activities directly)."""
        registry = registry or CollectorRegistry()
        return cls(
            deliveries=counter(m.WEBHOOK_DELIVERIES, registry),
            delivery_attempts=histogram(m.WEBHOOK_ATTEMPTS, registry),
            model_calls=counter(m.MODEL_CALLS, registry),
            model_duration=histogram(m.MODEL_DURATION, registry),
            model_tokens=counter(m.MODEL_TOKENS, registry),
        )

    def delivery(self, event: str, outcome: str, attempt: int) -> None:
        self.deliveries.labels(event, outcome).inc()
        if outcome != FAILED:
            self.delivery_attempts.labels(event).observe(attempt)

    def model_call(
        self, model: str | None, outcome: str, seconds: float, usage: TokenUsage | None = None
    ) -> None:
        name = model or UNNAMED_MODEL
        self.model_calls.labels(name, outcome).inc()
        self.model_duration.labels(name).observe(seconds)
        if usage is not None:
            # A counter only grows: a server's odd negative count is not one.
            self.model_tokens.labels(name, "prompt").inc(max(0, usage.prompt_tokens))
            self.model_tokens.labels(name, "completion").inc(max(0, usage.completion_tokens))
