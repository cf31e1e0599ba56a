"""What a run counts: starts, ends, review decisions and rounds. Recorded through Temporal's
workflow metric meter, which records nothing while a workflow replays, so a replayed history
counts nothing twice; the worker exports these beside the SDK's own (crew_hitl/sdk_metrics.py).
Recording adds no command to history."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from crew_hitl import metrics as m
    from crew_hitl.contracts.status import Verdict

COMPLETED, FAILED, STOPPED = "completed", "failed", "stopped"


class RunMetrics:
    def __init__(self, crew: str) -> None:
        self._crew = crew

    def started(self) -> None:
        meter = workflow.metric_meter()
        meter.create_counter(m.RUNS_STARTED.base_name).add(1, {"crew": self._crew})

    def finished(self, outcome: str) -> None:
        meter = workflow.metric_meter()
        attributes = {"crew": self._crew, "outcome": outcome}
        meter.create_counter(m.RUNS_FINISHED.base_name).add(1, attributes)

    def decided(self, task: str, verdict: Verdict, requested: datetime, decided: datetime) -> None:
        seconds = max(0.0, (decided - requested).total_seconds())
        attributes = {"crew": self._crew, "task": task, "verdict": verdict.value}
        histogram = workflow.metric_meter().create_histogram_float(m.REVIEW_DECISION.name)
        histogram.record(seconds, attributes)

    def approved_after(self, task: str, rounds: int) -> None:
        histogram = workflow.metric_meter().create_histogram(m.REVIEW_ROUNDS.name)
        histogram.record(rounds, {"crew": self._crew, "task": task})
