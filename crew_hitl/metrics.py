"""Every Prometheus metric the service exports, by name, kind, labels and buckets: the one list
the API, the worker, the workflow (through Temporal's metric meter), the README and the Grafana
dashboard agree on. Label values are bounded: crews, tasks and models come from the crews'
configuration, never from a request (no run ids)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]
Process = Literal["api", "worker"]

# Seconds from minutes to a week: a review waits for a person.
REVIEW_BUCKETS = (10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)
ROUND_BUCKETS = (1, 2, 3, 4, 5, 7, 10, 15, 20)
ATTEMPT_BUCKETS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 15)
MODEL_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# The Temporal SDK's own latencies (seconds).
SDK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True)
class MetricSpec:
    name: str  # as exported; a counter's ends in _total
    kind: Kind
    labels: tuple[str, ...]
    help: str
    process: Process
    buckets: tuple[float, ...] = ()

    @property
    def base_name(self) -> str:
        """The name without a counter's _total: prometheus_client's and the SDK meter's."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name


HTTP_REQUESTS = MetricSpec(
    "crew_hitl_http_requests_total",
    "counter",
    ("method", "route", "status"),
    "HTTP requests answered by the API, by route template and status",
    "api",
)
HTTP_DURATION = MetricSpec(
    "crew_hitl_http_request_duration_seconds",
    "histogram",
    ("method", "route"),
    "Time from a request's arrival to the end of its answer (streams: until they close)",
    "api",
    HTTP_BUCKETS,
)
RUNS_WAITING = MetricSpec(
    "crew_hitl_runs_waiting_for_input",
    "gauge",
    ("crew", "task"),
    "Open runs waiting for a human decision, counted by Temporal visibility",
    "api",
)
RUNS_STARTED = MetricSpec(
    "crew_hitl_runs_started_total",
    "counter",
    ("crew",),
    "Crew runs started (a run that continued as new is not counted again)",
    "worker",
)
RUNS_FINISHED = MetricSpec(
    "crew_hitl_runs_finished_total",
    "counter",
    ("crew", "outcome"),
    "Crew runs finished: completed, failed or stopped",
    "worker",
)
REVIEW_DECISION = MetricSpec(
    "crew_hitl_review_decision_seconds",
    "histogram",
    ("crew", "task", "verdict"),
    "Time from a round's review request to its decision",
    "worker",
    REVIEW_BUCKETS,
)
REVIEW_ROUNDS = MetricSpec(
    "crew_hitl_review_rounds",
    "histogram",
    ("crew", "task"),
    "Rounds a reviewed task took, recorded when its output is approved",
    "worker",
    ROUND_BUCKETS,
)
WEBHOOK_DELIVERIES = MetricSpec(
    "crew_hitl_webhook_deliveries_total",
    "counter",
    ("event", "outcome"),
    "Webhook delivery attempts by outcome: delivered, failed (tried again), rejected, "
    "refused, gave_up",
    "worker",
)
WEBHOOK_ATTEMPTS = MetricSpec(
    "crew_hitl_webhook_delivery_attempts",
    "histogram",
    ("event",),
    "The attempt a webhook delivery ended on (delivered, rejected, refused or gave up)",
    "worker",
    ATTEMPT_BUCKETS,
)
MODEL_CALLS = MetricSpec(
    "crew_hitl_model_calls_total",
    "counter",
    ("model", "outcome"),
    "Calls to a model endpoint: ok, busy (retried), refused or unreachable",
    "worker",
)
MODEL_DURATION = MetricSpec(
    "crew_hitl_model_call_duration_seconds",
    "histogram",
    ("model",),
    "How long a model call took",
    "worker",
    MODEL_BUCKETS,
)
MODEL_TOKENS = MetricSpec(
    "crew_hitl_model_tokens_total",
    "counter",
    ("model", "kind"),
    "Tokens the model endpoints reported: prompt and completion",
    "worker",
)

ALL = (
    HTTP_REQUESTS,
    HTTP_DURATION,
    RUNS_WAITING,
    RUNS_STARTED,
    RUNS_FINISHED,
    REVIEW_DECISION,
    REVIEW_ROUNDS,
    WEBHOOK_DELIVERIES,
    WEBHOOK_ATTEMPTS,
    MODEL_CALLS,
    MODEL_DURATION,
    MODEL_TOKENS,
)
BY_BASE_NAME = {spec.base_name: spec for spec in ALL}

# The Temporal SDK's metrics the dashboard reads (the worker exports all of the SDK's,
# prefixed temporal_; durations in seconds, their names ending in _seconds).
SDK_METRICS_ON_DASHBOARD = (
    "temporal_workflow_task_schedule_to_start_latency_seconds",
    "temporal_activity_schedule_to_start_latency_seconds",
    "temporal_workflow_task_execution_latency_seconds",
    "temporal_worker_task_slots_available",
    "temporal_sticky_cache_size",
)
