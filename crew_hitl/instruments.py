"""prometheus_client instruments made from the metric catalog (crew_hitl/metrics.py), each in
the registry of the process that exports it; the text a scrape answers with, and who may
scrape."""

from __future__ import annotations

import hmac

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from crew_hitl.metrics import MetricSpec

CONTENT_TYPE = CONTENT_TYPE_LATEST
# No `_created` series beside each counter and histogram: they double a scrape for a
# timestamp Prometheus does not need (it sees a counter reset anyway).
disable_created_metrics()


def counter(spec: MetricSpec, registry: CollectorRegistry) -> Counter:
    assert spec.kind == "counter", spec.name
    return Counter(spec.base_name, spec.help, spec.labels, registry=registry)


def histogram(spec: MetricSpec, registry: CollectorRegistry) -> Histogram:
    assert spec.kind == "histogram", spec.name
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format."""
    return generate_latest(registry)


def scrape_allowed(token: str, authorization: str) -> bool:
    """Whether a scrape may read the metrics: always without CREW_HITL_METRICS_TOKEN, else with
    `Authorization: Bearer <that token>` (compared in constant time)."""
    if not token:
        return True
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(errors="surrogatepass"), token.encode()
    )
