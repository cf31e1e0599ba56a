"""Traces: OpenTelemetry spans from the API and the worker, sent to an OTLP collector.

Off unless the standard variables ask for them (OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_TRACES_EXPORTER), and off whenever
OTEL_SDK_DISABLED is true. The rest is read by the SDK and the exporter themselves: headers,
timeout, certificate, sampler (OTEL_TRACES_SAMPLER), resource attributes and OTEL_SERVICE_NAME,
which replaces the process's own name (crew-hitl-api, crew-hitl-worker).

Nothing of the SDK or of Temporal's interceptor is imported while tracing is off: the API and
the worker then run as they do without this module."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer
    from temporalio.contrib.opentelemetry import TracingInterceptor

API_SERVICE = "crew-hitl-api"
WORKER_SERVICE = "crew-hitl-worker"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
# The OTLP transport for each protocol, as the exporters' entry points name them. The spec's
# default protocol is http/protobuf, whose exporter the project installs; grpc needs
# opentelemetry-exporter-otlp-proto-grpc.
OTLP_EXPORTERS = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}
DEFAULT_PROTOCOL = "http/protobuf"
EXPORTER_GROUP = "opentelemetry_traces_exporter"
TRACER_NAME = "crew_hitl"


@dataclass(frozen=True)
class Tracing:
    """A process's tracer provider and what the process hangs on it: the Temporal client's
    interceptor (which the worker takes from its client) and the tracer of our own spans."""

    provider: TracerProvider

    @property
    def tracer(self) -> Tracer:
        return self.provider.get_tracer(TRACER_NAME)

    def temporal_interceptors(self) -> list[TracingInterceptor]:
        """Spans for the client's calls (StartWorkflow, StartWorkflowUpdate, ...) and, on a
        worker, for the workflow and its activities. Workflow spans are made through the
        worker, outside the sandbox, and not while a history is replayed; they carry ids,
        never payloads."""
        from temporalio.contrib.opentelemetry import TracingInterceptor

        return [TracingInterceptor(self.provider.get_tracer("temporalio"))]

    def shutdown(self) -> None:
        """Sends the spans still waiting in the batch, then stops exporting."""
        self.provider.shutdown()


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the variables name: OTEL_TRACES_EXPORTER (otlp when unset), with
    otlp resolved to its transport by the protocol variables."""
    named = environ.get("OTEL_TRACES_EXPORTER", "otlp")
    names = [name.strip() for name in named.split(",") if name.strip()]
    if names == ["none"]:
        return []
    protocol = next(
        (environ[name].strip() for name in PROTOCOL_VARIABLES if environ.get(name, "").strip()),
        DEFAULT_PROTOCOL,
    )
    if "otlp" in names and protocol not in OTLP_EXPORTERS:
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not one of {', '.join(OTLP_EXPORTERS)}"
        )
    return [OTLP_EXPORTERS[protocol] if name == "otlp" else name for name in names]


def tracing_wanted(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    asked = any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)
    asked = asked or bool(env.get("OTEL_TRACES_EXPORTER", "").strip())
    return asked and bool(exporter_names(env))


def span_exporter(name: str) -> type[SpanExporter]:
    found = entry_points(group=EXPORTER_GROUP, name=name)
    if not found:
        raise ValueError(f"OTEL_TRACES_EXPORTER: no span exporter {name!r} is installed")
    return next(iter(found)).load()


def service_resource(service_name: str) -> Resource:
    """The process's resource: `service_name` unless OTEL_SERVICE_NAME (or service.name in
    OTEL_RESOURCE_ATTRIBUTES) names another."""
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource

    return Resource.create({SERVICE_NAME: service_name}).merge(OTELResourceDetector().detect())


def tracer_provider(service_name: str) -> TracerProvider:
    """A provider without exporters, its sampler from OTEL_TRACES_SAMPLER (the SDK reads it)."""
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider(resource=service_resource(service_name))


def tracing_from_env(service_name: str) -> Tracing | None:
    """The process's tracing as the OTEL_* variables configure it, or None when they do not."""
    if not tracing_wanted():
        return None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = tracer_provider(service_name)
    for name in exporter_names(os.environ):
        provider.add_span_processor(BatchSpanProcessor(span_exporter(name)()))
    return Tracing(provider)


def start_tracing(service_name: str) -> Tracing | None:
    """tracing_from_env, made the process's global provider too, so spans a crew's own code
    starts (a tool, a python-executor function) join the activity's trace. CrewAI keeps its
    telemetry on a provider of its own and never installs a global one; the worker turns that
    telemetry off anyway (activities/crewai_executor.py QUIET)."""
    tracing = tracing_from_env(service_name)
    if tracing is not None:
        from opentelemetry import trace

        trace.set_tracer_provider(tracing.provider)
    return tracing
