"""What the leads' page shows, computed from run status documents: the runs waiting for a
decision per crew, the time from a round's request to its decision per day, and how often each
crew's task is rejected. Pure: inbox/review_queue.py reads the documents from Temporal.

A round records when it was asked for (`requested_at`) and decided. Rounds of runs from before
the request time was recorded have it rebuilt from the run's own clock: tasks run one after
another, each round starts when the round before it was decided (or its task began), and it
asks for review once its running time has passed (a task keeps the running time of all its
rounds together, shared out evenly here between them)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from crew_hitl.contracts.status import StatusDocument, Verdict

UNNAMED_CREW = "(unnamed crew)"


@dataclass(frozen=True)
class Decision:
    """One decided round: its crew and task, when it was asked for and decided, and how."""

    crew: str
    task_id: str
    round: int
    requested_at: datetime
    decided_at: datetime
    verdict: Verdict

    @property
    def seconds(self) -> float:
        return (self.decided_at - self.requested_at).total_seconds()


@dataclass(frozen=True)
class WaitingRun:
    crew: str
    # When the waiting round asked for review; None when the run did not say (no worker).
    since: datetime | None


def crew_of(status: StatusDocument, listed_crew: str | None = None) -> str:
    return status.crew or listed_crew or UNNAMED_CREW


def decisions_of(status: StatusDocument, listed_crew: str | None = None) -> list[Decision]:
    """Every decided round of the run, in the order they were decided."""
    crew = crew_of(status, listed_crew)
    clock = status.started_at
    decisions: list[Decision] = []
    for task in status.tasks:
        if clock is None:
            break
        if not task.rounds:
            clock += timedelta(seconds=task.execution_time)
            continue
        running = timedelta(seconds=task.execution_time / len(task.rounds))
        for review in task.rounds:
            if review.decided_at is None or review.decision is None:
                return decisions
            requested = review.requested_at or min(clock + running, review.decided_at)
            decisions.append(
                Decision(
                    crew, task.task_id, review.round, requested, review.decided_at, review.decision
                )
            )
            clock = review.decided_at
    return decisions


def waiting_of(status: StatusDocument, listed_crew: str | None = None) -> WaitingRun | None:
    pending = status.pending_human_input
    if pending is None:
        return None
    return WaitingRun(crew_of(status, listed_crew), pending.since)


# ---------------------------------------------------------------- runs waiting per crew


@dataclass(frozen=True)
class CrewQueue:
    crew: str
    waiting: int
    oldest_since: datetime | None


def queue_per_crew(waiting: Iterable[WaitingRun]) -> list[CrewQueue]:
    """Crews with runs waiting, the longest queue first (then by name)."""
    by_crew: dict[str, list[WaitingRun]] = defaultdict(list)
    for run in waiting:
        by_crew[run.crew].append(run)
    queues = [
        CrewQueue(
            crew=crew,
            waiting=len(runs),
            oldest_since=min((r.since for r in runs if r.since is not None), default=None),
        )
        for crew, runs in by_crew.items()
    ]
    return sorted(queues, key=lambda queue: (-queue.waiting, queue.crew))


# ---------------------------------------------------------------- time to decision per day


@dataclass(frozen=True)
class DayTimes:
    day: date
    decisions: int
    median_seconds: float | None
    p90_seconds: float | None


def window_days(today: date, days: int) -> list[date]:
    """The last `days` days up to and including today, the earliest first."""
    return [today - timedelta(days=back) for back in range(days - 1, -1, -1)]


def window_start(today: date, days: int) -> datetime:
    first = window_days(today, days)[0]
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value at least `share` of them do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def times_to_decision(decisions: Iterable[Decision], days: Sequence[date]) -> list[DayTimes]:
    """Per day (UTC, of the decision): how many rounds were decided, and the median and 90th
    percentile of their time from request to decision. Every day of `days` has a row."""
    seconds: dict[date, list[float]] = {day: [] for day in days}
    for decision in decisions:
        day = decision.decided_at.astimezone(UTC).date()
        if day in seconds:
            seconds[day].append(decision.seconds)
    return [
        DayTimes(
            day=day,
            decisions=len(values),
            median_seconds=percentile(values, 0.5),
            p90_seconds=percentile(values, 0.9),
        )
        for day, values in seconds.items()
    ]


# ---------------------------------------------------------------- rejections per task


@dataclass(frozen=True)
class TaskRejections:
    crew: str
    task_id: str
    decisions: int
    rejections: int

    @property
    def rate(self) -> float:
        return self.rejections / self.decisions


def rejections_per_task(decisions: Iterable[Decision], since: datetime) -> list[TaskRejections]:
    """Per crew and task, the rounds decided since `since` and how many of them were
    rejected; the highest rate first (then the most decisions, then by name)."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for decision in decisions:
        if decision.decided_at < since:
            continue
        count = counts[(decision.crew, decision.task_id)]
        count[0] += 1
        count[1] += decision.verdict == Verdict.REJECTED
    rows = [
        TaskRejections(crew=crew, task_id=task, decisions=total, rejections=rejected)
        for (crew, task), (total, rejected) in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row.rate, -row.decisions, row.crew, row.task_id))
