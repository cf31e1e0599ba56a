"""The Temporal SDK's metrics, and what the workflow records through its metric meter, in the
worker's prometheus_client registry: the runtime's telemetry writes into a MetricBuffer, and
draining it moves each update into the registry. One registry, so the worker serves one
endpoint with its own metrics and the SDK's (the SDK's PrometheusConfig would serve a second
endpoint, on a port of its own, without ours).

The catalog's metrics (crew_hitl/metrics.py) land in their prometheus_client instruments with
the catalog's labels only (the meter adds namespace, task queue and workflow type to each);
the SDK's own keep every attribute as a label, a duration's name ending in _seconds."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BufferedMetric,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

from crew_hitl import metrics as m
from crew_hitl.instruments import counter, histogram

# Updates the buffer holds between drains; past it the SDK drops them (and logs). A busy
# worker makes a few hundred a second; it is drained every second and at each scrape, so
# 10,000 leave thirty times that. The SDK allocates the whole buffer up front: with 2,000
# runs paused the worker held 284 MB with 100,000, 274 MB with 10,000, 255 MB without metrics.
BUFFER_SIZE = 10_000
RUN_METRICS = (m.RUNS_STARTED, m.RUNS_FINISHED, m.REVIEW_DECISION, m.REVIEW_ROUNDS)

Labels = tuple[tuple[str, str], ...]


def label_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class HistogramSeries:
    buckets: list[int]
    total: float = 0.0
    count: int = 0

    def observe(self, value: float, bounds: tuple[float, ...]) -> None:
        self.buckets[bisect.bisect_left(bounds, value)] += 1
        self.total += value
        self.count += 1


@dataclass
class SdkFamily:
    """One of the SDK's metrics and its series, each with its own label set (the SDK gives
    one metric different attributes: a request with and without a task queue)."""

    name: str
    description: str
    kind: int
    values: dict[Labels, float] = field(default_factory=dict)
    histograms: dict[Labels, HistogramSeries] = field(default_factory=dict)

    def record(self, labels: Labels, value: float) -> None:
        if self.kind == BUFFERED_METRIC_KIND_COUNTER:
            self.values[labels] = self.values.get(labels, 0.0) + value
        elif self.kind == BUFFERED_METRIC_KIND_GAUGE:
            self.values[labels] = value
        else:
            series = self.histograms.get(labels)
            if series is None:
                series = self.histograms[labels] = HistogramSeries([0] * (len(SDK_BOUNDS) + 1))
            series.observe(value, SDK_BOUNDS)

    def collect(self) -> Metric:
        if self.kind == BUFFERED_METRIC_KIND_COUNTER:
            family: Metric = CounterMetricFamily(self.name, self.description)
        elif self.kind == BUFFERED_METRIC_KIND_GAUGE:
            family = GaugeMetricFamily(self.name, self.description)
        else:
            family = HistogramMetricFamily(self.name, self.description)
            for labels, series in self.histograms.items():
                add_histogram(family, dict(labels), series)
            return family
        suffix = "_total" if self.kind == BUFFERED_METRIC_KIND_COUNTER else ""
        for labels, value in self.values.items():
            family.add_sample(self.name + suffix, dict(labels), value)
        return family


# Attribute sets whose labels are kept worked out: the worker's own handful, and the runs
# recording at the moment.
LABEL_SETS_KEPT = 1_000

SDK_BOUNDS = tuple(float(bound) for bound in m.SDK_BUCKETS)


def add_histogram(family: Metric, labels: dict[str, str], series: HistogramSeries) -> None:
    cumulative = 0
    for bound, count in zip((*SDK_BOUNDS, float("inf")), series.buckets, strict=True):
        cumulative += count
        le = "+Inf" if bound == float("inf") else repr(bound)
        family.add_sample(family.name + "_bucket", {**labels, "le": le}, cumulative)
    family.add_sample(family.name + "_count", labels, series.count)
    family.add_sample(family.name + "_sum", labels, series.total)


def exported_name(metric: BufferedMetric) -> str:
    if metric.unit == "s" and not metric.name.endswith("_seconds"):
        return metric.name + "_seconds"
    return metric.name


class SdkMetrics(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.buffer = MetricBuffer(BUFFER_SIZE, MetricBufferDurationFormat.SECONDS)
        # No service_name label: every series of this worker would carry the same one.
        self.runtime = Runtime(
            telemetry=TelemetryConfig(metrics=self.buffer, attach_service_name=False)
        )
        self._own: dict[str, tuple[m.MetricSpec, Counter | Histogram]] = {
            spec.base_name: (spec, own_instrument(spec, registry)) for spec in RUN_METRICS
        }
        self._families: dict[str, SdkFamily] = {}
        # The buffer hands out the same attributes object for the same attribute set: its
        # labels are worked out once (the object is kept, so its id is not reused). A run's
        # meter makes attribute sets of its own, so the cache is emptied when it is full:
        # unbounded, it held every run the worker ever saw (about 10 KB a run).
        self._labels: dict[int, tuple[Mapping[str, Any], Labels]] = {}
        registry.register(self)

    def drain(self) -> None:
        for update in self.buffer.retrieve_updates():
            metric = update.metric
            own = self._own.get(metric.name)
            if own is not None:
                record_own(*own, update.attributes, update.value)
                continue
            family = self._families.get(metric.name)
            if family is None:
                family = SdkFamily(exported_name(metric), metric.description or "", metric.kind)
                self._families[metric.name] = family
            family.record(self._labels_of(update.attributes), update.value)

    def _labels_of(self, attributes: Mapping[str, Any]) -> Labels:
        known = self._labels.get(id(attributes))
        if known is not None and known[0] is attributes:
            return known[1]
        labels = tuple(sorted((key, label_value(value)) for key, value in attributes.items()))
        if len(self._labels) >= LABEL_SETS_KEPT:
            self._labels.clear()
        self._labels[id(attributes)] = (attributes, labels)
        return labels

    def collect(self) -> Iterator[Metric]:
        for family in list(self._families.values()):
            yield family.collect()


def own_instrument(spec: m.MetricSpec, registry: CollectorRegistry) -> Counter | Histogram:
    return counter(spec, registry) if spec.kind == "counter" else histogram(spec, registry)


def record_own(
    spec: m.MetricSpec,
    instrument: Counter | Histogram,
    attributes: Mapping[str, Any],
    value: float,
) -> None:
    child = instrument.labels(*(label_value(attributes.get(name, "")) for name in spec.labels))
    if isinstance(child, Counter):
        child.inc(value)
    else:
        child.observe(value)
