"""The API's part of a run's trace. A kickoff's request span is the parent of the run's
workflow and activities (Temporal's interceptor carries it in the start's headers). A decision
comes later, in a request of its own, often from another system with its own trace: its span
`resume decision` is made a child of the kickoff's request span, found in the run's memo,
which the describe every decision makes anyway returns at no extra call. The request's span
and the decision's link to each other, so each trace leads to the other.

Only used when tracing is on: the memo then holds the kickoff's W3C trace context (ids and
flags, never baggage)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from fastapi.telemetry import TelemetryConfig
from temporalio.api.common.v1 import Memo
from temporalio.contrib.pydantic import pydantic_data_converter

from crew_hitl.contracts.http import ResumeRequest
from crew_hitl.contracts.status import DecisionSource
from crew_hitl.tracing import Tracing

RUN_TRACE = "trace_context"
DECISION_SPAN = "resume decision"


def telemetry_config(tracing: Tracing | None) -> TelemetryConfig:
    """FastAPI's own OpenTelemetry, given our provider: one server span per request, named by
    its route. Its per-operation spans (dependencies, endpoint, serialization) are left out:
    three more spans a request that say little here. It records no headers."""
    if tracing is None:
        return {"tracing": False}
    return {"tracer_provider": tracing.provider, "operation_spans": False}


def current_trace_context() -> dict[str, str]:
    """The current span's W3C trace context (traceparent, tracestate)."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier


def run_trace_context(memo: Memo) -> dict[str, str] | None:
    """The kickoff's trace context from a run's memo, when it kept one."""
    payload = memo.fields.get(RUN_TRACE)
    if payload is None:
        return None
    value = pydantic_data_converter.payload_converter.from_payload(payload)
    if not isinstance(value, dict):
        return None
    return {str(key): str(item) for key, item in value.items()}


def decision_span(
    tracing: Tracing | None,
    run_context: dict[str, str] | None,
    body: ResumeRequest,
    source: DecisionSource,
) -> AbstractContextManager[object]:
    if tracing is None:
        return nullcontext()
    return _decision_span(tracing, run_context, body, source)


@contextmanager
def _decision_span(
    tracing: Tracing,
    run_context: dict[str, str] | None,
    body: ResumeRequest,
    source: DecisionSource,
) -> Iterator[object]:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    request = trace.get_current_span()
    parent = TraceContextTextMapPropagator().extract(run_context) if run_context else None
    linked = parent is not None and request.get_span_context().is_valid
    attributes: dict[str, str | int | bool] = {
        "crew_hitl.kickoff_id": body.execution_id,
        "crew_hitl.task_id": body.task_id,
        "crew_hitl.approve": body.is_approve,
        "crew_hitl.source": source.value,
    }
    if body.round is not None:
        attributes["crew_hitl.round"] = body.round
    # A refusal (409) is the caller's to handle, not an error of the service: no status.
    with tracing.tracer.start_as_current_span(
        DECISION_SPAN,
        context=parent,
        links=[trace.Link(request.get_span_context())] if linked else None,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        if linked:
            request.add_link(span.get_span_context())
        yield span
