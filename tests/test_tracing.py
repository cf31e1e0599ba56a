"""Traces: one trace from a kickoff through its tasks, webhooks and decisions to the end, made
by the API and a worker served in this process (each with its own provider, as two processes
have) on the stack's Temporal server; and nothing of it when no OTEL_* variable asks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from api.traces import DECISION_SPAN
from crew_hitl.tracing import (
    API_SERVICE,
    WORKER_SERVICE,
    Tracing,
    exporter_names,
    service_resource,
    tracing_wanted,
)
from runner.stack import Stack
from support import (
    MODEL_KEY,
    ROOT,
    TOKEN,
    WEBHOOK_SECRET,
    WEBHOOK_TOKEN,
    WebhookReceiver,
    human_input_request,
    kickoff,
    resume,
    state_is,
    wait_status,
)
from support.in_process import InProcess, in_process_settings, serve_in_process
from worker import STRICT_WORKFLOW_RUNNER
from workflows.crew_run import CrewRunWorkflow

SECRETS = (TOKEN, WEBHOOK_TOKEN, WEBHOOK_SECRET, MODEL_KEY)


def tracing_into(exporter: InMemorySpanExporter, service_name: str) -> Tracing:
    provider = TracerProvider(resource=service_resource(service_name))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(stack: Stack, tmp_path: Path, exporter: InMemorySpanExporter) -> Iterator[InProcess]:
    settings = in_process_settings(stack.settings, tmp_path)
    api_tracing = tracing_into(exporter, API_SERVICE)
    worker_tracing = tracing_into(exporter, WORKER_SERVICE)
    with serve_in_process(settings, api_tracing, worker_tracing) as services:
        yield services


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def one_named(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = named(spans, name)
    assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in spans]}"
    return found[0]


def reject_then_approve(api: httpx.Client, receiver: WebhookReceiver) -> str:
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    rejected = resume(api, kickoff_id, "research_task", False, "More detail", round=1)
    assert rejected.status_code == 200, rejected.text
    human_input_request(receiver, kickoff_id, 2)
    approved = resume(api, kickoff_id, "research_task", True, "Good", round=2)
    assert approved.status_code == 200, approved.text
    wait_status(api, kickoff_id, state_is("SUCCESS"))
    return kickoff_id


def traced_review(traced: InProcess, receiver: WebhookReceiver) -> str:
    """A run rejected once, then approved, through the traced in-process API."""
    with httpx.Client(
        base_url=traced.settings.api_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as api:
        return reject_then_approve(api, receiver)


def test_one_trace_runs_from_the_kickoff_through_both_rounds(
    traced: InProcess, exporter: InMemorySpanExporter, receiver: WebhookReceiver
):
    kickoff_id = traced_review(traced, receiver)
    spans = list(exporter.get_finished_spans())
    request = one_named(spans, "POST /kickoff")
    assert service_of(request) == API_SERVICE
    run = [span for span in spans if span.context.trace_id == request.context.trace_id]

    start = one_named(run, "StartWorkflow:CrewRunWorkflow")
    assert start.parent is not None and start.parent.span_id == request.context.span_id
    workflow = one_named(run, "RunWorkflow:CrewRunWorkflow")
    assert service_of(workflow) == WORKER_SERVICE
    assert workflow.attributes["temporalWorkflowID"] == kickoff_id
    tasks = named(run, "RunActivity:execute_task")
    webhooks = named(run, "RunActivity:deliver_webhook")
    assert {service_of(span) for span in tasks + webhooks} == {WORKER_SERVICE}
    # research_task twice (rejected, then approved), reporting_task once; a human-input
    # request for each round of research_task.
    assert len(tasks) == 3 and len(webhooks) >= 2

    # Each decision is a child of the kickoff's request, though made in requests of their own
    # (each in a trace of its own, linked both ways); the run handled each.
    decisions = sorted(named(run, DECISION_SPAN), key=lambda span: span.start_time or 0)
    assert [span.attributes["crew_hitl.approve"] for span in decisions] == [False, True]
    resume_requests = [span for span in spans if span.name == "POST /resume"]
    assert len(resume_requests) == 2
    for decision in decisions:
        assert decision.parent is not None and decision.parent.span_id == request.context.span_id
        [link] = decision.links
        [resume_request] = [s for s in resume_requests if s.context == link.context]
        assert resume_request.context.trace_id != request.context.trace_id
        assert [back.context for back in resume_request.links] == [decision.context]
    updates = named(run, "StartWorkflowUpdate:decide")
    assert sorted(update.parent.span_id for update in updates if update.parent) == sorted(
        decision.context.span_id for decision in decisions
    )
    assert len(named(run, "HandleUpdate:decide")) == 2

    # The second round of research_task ran after the rejection, in the same trace.
    rejected_at = decisions[0].start_time or 0
    assert len([task for task in tasks if (task.start_time or 0) > rejected_at]) == 2

    for span in spans:
        recorded = json.dumps(
            [dict(span.attributes or {}), [dict(e.attributes or {}) for e in span.events]],
            default=str,
        )
        assert not any(secret in recorded for secret in SECRETS), (span.name, recorded)


def test_a_traced_history_replays_with_tracing_on_and_makes_no_spans(
    traced: InProcess, exporter: InMemorySpanExporter, receiver: WebhookReceiver
):
    kickoff_id = traced_review(traced, receiver)
    assert traced.worker_client is not None
    history = traced.run(traced.worker_client.get_workflow_handle(kickoff_id).fetch_history())
    # The kickoff's trace context went to the run in its start's header: it was traced.
    started = history.events[0].workflow_execution_started_event_attributes
    assert "_tracer-data" in started.header.fields
    exporter.clear()
    replay_tracing = tracing_into(exporter, WORKER_SERVICE)
    replayer = Replayer(
        workflows=[CrewRunWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=STRICT_WORKFLOW_RUNNER,
        interceptors=replay_tracing.temporal_interceptors(),
    )
    traced.run(replayer.replay_workflow(history))
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp_proto_http"]),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            ["otlp_proto_grpc"],
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4317/v1/traces",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            ["otlp_proto_http"],
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, []),
    ],
)
def test_the_standard_variables_decide_whether_and_where_spans_go(
    environ: dict[str, str], exporters: list[str]
):
    assert tracing_wanted(environ) == bool(exporters)
    if exporters:
        assert exporter_names(environ) == exporters


def test_an_unknown_protocol_is_refused_by_name():
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        exporter_names(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_PROTOCOL": "x"}
        )


def test_otel_service_name_replaces_the_process_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    assert service_resource(API_SERVICE).attributes["service.name"] == API_SERVICE
    monkeypatch.setenv("OTEL_SERVICE_NAME", "crew-hitl-eu")
    assert service_resource(API_SERVICE).attributes["service.name"] == "crew-hitl-eu"


# Run in a process of its own: the global tracer provider can be set once per process.
# It leaves by os._exit: a process that ends with two Temporal clients still alive aborts
# in about one exit in twenty ("PyGILState_Release: thread state ... must be current",
# temporalio/sdk-python#300; 7 of 80 with two bare Client.connect, 0 of 80 with one). The
# worker and the API hold one client each and exited cleanly 25 times out of 25 on SIGTERM.
SET_UP_AS_THE_PROCESSES_DO = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from crew_hitl.settings import Settings
    from crew_hitl.tracing import API_SERVICE, WORKER_SERVICE, start_tracing
    import api.app, worker

    settings = Settings.from_env()
    app = api.app.create_app(settings, start_tracing(API_SERVICE))
    client = asyncio.run(worker.connect(settings, tracing=start_tracing(WORKER_SERVICE)))
    api_client = asyncio.run(app.state.services.gateway.client())
    print(json.dumps({
        "worker_interceptors": len(client.config()["interceptors"]),
        "api_interceptors": len(api_client.config()["interceptors"]),
        "fastapi_tracing": app._telemetry.get("tracing", True),
        "sdk_imported": "opentelemetry.sdk" in sys.modules,
        "interceptor_imported": "temporalio.contrib.opentelemetry" in sys.modules,
    }), flush=True)
    os._exit(0)
    """
)


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:9"], ids=["unset", "set"])
def test_without_otel_variables_nothing_of_tracing_is_set_up(
    stack: Stack, tmp_path: Path, endpoint: str | None
):
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env |= {
        "CREW_HITL_TEMPORAL_ADDRESS": stack.settings.temporal_address,
        "CREW_HITL_DATA_DIR": str(tmp_path),
        "CREW_HITL_CREWS_DIR": str(ROOT / "crews"),
    }
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    done = subprocess.run(
        [sys.executable, "-c", SET_UP_AS_THE_PROCESSES_DO],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    traced = endpoint is not None
    assert seen == {
        "worker_interceptors": int(traced),
        "api_interceptors": int(traced),
        "fastapi_tracing": traced,
        "sdk_imported": traced,
        "interceptor_imported": traced,
    }
