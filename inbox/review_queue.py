"""What the leads' page reads from Temporal at each load: the runs open now or closed within
the window (visibility, up to MAX_RUNS of them), the status of each open run (asked of the run),
and the decisions of each finished run (read once, then kept in FinishedRuns). Nothing here is
remembered that a restart of the API would lose: the cache only saves asking again."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from api.failures import Failure
from api.gateway import QUERY_CONCURRENCY, TemporalGateway
from api.listing import ListedRun, open_or_closed_since_query
from crew_hitl.contracts.status import RunState
from inbox.finished_runs import FinishedRuns
from inbox.review_stats import UNNAMED_CREW, Decision, WaitingRun, decisions_of, waiting_of

# The most runs one page load reads. With the cache warm a load asks only the open ones, 6 to
# 12 ms each (200 open runs: 1.3 to 2.5 s on 2 busy cores), so a full load takes seconds.
MAX_RUNS = 2000


@dataclass(frozen=True)
class RunFacts:
    """What one run adds to the page; `decisions` None when the run did not answer."""

    waiting: WaitingRun | None
    decisions: tuple[Decision, ...] | None
    asked: bool


@dataclass(frozen=True)
class QueueSnapshot:
    waiting: list[WaitingRun]
    decisions: list[Decision]
    runs_read: int
    # More runs matched than MAX_RUNS: the oldest closed ones were left out.
    capped: bool
    # Runs asked about this time (open ones, and finished ones not known yet).
    asked: int
    # Runs that did not answer in time: their decisions are not counted.
    unanswered: int
    seconds: float


async def read_queue(
    gateway: TemporalGateway, finished: FinishedRuns, since: datetime, limit: int = MAX_RUNS
) -> QueueSnapshot:
    """Raises Failure when Temporal cannot list the runs."""
    started = time.monotonic()
    runs, capped = await gateway.list_matching(open_or_closed_since_query(since), limit)
    concurrency = asyncio.Semaphore(QUERY_CONCURRENCY)

    async def facts(run: ListedRun) -> RunFacts:
        async with concurrency:
            if run.info.closed:
                return await finished_facts(gateway, finished, run)
            return await open_facts(gateway, run)

    collected = await asyncio.gather(*(facts(run) for run in runs))
    return QueueSnapshot(
        waiting=[f.waiting for f in collected if f.waiting is not None],
        decisions=[d for f in collected for d in f.decisions or ()],
        runs_read=len(runs),
        capped=capped,
        asked=sum(f.asked for f in collected),
        unanswered=sum(f.decisions is None for f in collected),
        seconds=time.monotonic() - started,
    )


async def open_facts(gateway: TemporalGateway, run: ListedRun) -> RunFacts:
    status = await gateway.status_or_none(run.info.kickoff_id)
    if status is None:
        # Visibility still says whether it waits, though not since when.
        waits = run.info.state == RunState.PENDING_HUMAN_INPUT
        waiting = WaitingRun(run.info.crew or UNNAMED_CREW, None) if waits else None
        return RunFacts(waiting, None, asked=True)
    return RunFacts(
        waiting_of(status, run.info.crew),
        tuple(decisions_of(status, run.info.crew)),
        asked=True,
    )


async def finished_facts(
    gateway: TemporalGateway, finished: FinishedRuns, run: ListedRun
) -> RunFacts:
    known = finished.get(run.run_id)
    if known is not None:
        return RunFacts(None, known, asked=False)
    try:
        status = await gateway.finished_status(run)
    except Failure:
        status = None
    if status is None:
        return RunFacts(None, None, asked=True)
    decisions = tuple(decisions_of(status, run.info.crew))
    finished.keep(run.run_id, decisions)
    return RunFacts(None, decisions, asked=True)
