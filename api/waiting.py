"""crew_hitl_runs_waiting_for_input{crew,task}: the open runs waiting for a decision, counted by
Temporal visibility when Prometheus scrapes (so the gauge stays right across restarts of the
API and the worker), and kept a few seconds so that close scrapes cost one count.

The dev server's visibility groups only by ExecutionStatus, so each number is one count query:
first all waiting runs (usually the only call: nothing waits), then each crew with a task that
takes human input, then each task of a crew with more than one. Runs of crews or tasks this API
does not know (a crew removed since) are counted under "(other)", and so, for one scrape, may be
a run that moved on between two of the counts (they are not one snapshot)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.failures import Failure
from api.gateway import TemporalGateway
from api.listing import quoted
from crew_hitl import WORKFLOW_TYPE
from crew_hitl import metrics as m
from crew_hitl import search_attributes as sa
from crew_hitl.contracts.status import RunState
from crew_hitl.spec import CrewRegistry

log = logging.getLogger("crew_hitl.api")
CACHE_SECONDS = 5.0
OTHER = "(other)"
WAITING = (
    f"WorkflowType = {quoted(WORKFLOW_TYPE)} AND ExecutionStatus = 'Running' "
    f"AND {sa.CREW_STATE.name} = {quoted(RunState.PENDING_HUMAN_INPUT.value)}"
)

Counts = dict[tuple[str, str], int]


def reviewed_tasks(crews: CrewRegistry) -> dict[str, list[str]]:
    """The tasks of each crew that wait for a person (of names a query can hold: any other
    crew's waiting runs count under "(other)")."""
    tasks = {
        name: [task.name for task in crew.tasks if task.human_input and queryable(task.name)]
        for name, crew in crews.crews.items()
        if queryable(name)
    }
    return {name: names for name, names in tasks.items() if names}


def queryable(value: str) -> bool:
    try:
        quoted(value)
    except ValueError:
        return False
    return True


class WaitingRuns(Collector):
    def __init__(self, gateway: TemporalGateway, crews: CrewRegistry) -> None:
        self._gateway = gateway
        self._tasks = reviewed_tasks(crews)
        self._counts: Counts | None = None
        self._counted_at = -CACHE_SECONDS
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Count again unless the last count is under CACHE_SECONDS old. Temporal not
        answering leaves the gauge out of the scrape: no number beats a stale one."""
        async with self._lock:
            if time.monotonic() - self._counted_at < CACHE_SECONDS:
                return
            try:
                self._counts = await self._count()
            except Failure as err:
                log.warning("runs waiting for input not counted: %s", err.message)
                self._counts = None
            self._counted_at = time.monotonic()

    async def _count(self) -> Counts:
        counts: Counts = {(crew, task): 0 for crew, tasks in self._tasks.items() for task in tasks}
        total = await self._gateway.count_runs(WAITING)
        if total == 0:
            return counts
        crews = list(self._tasks)
        by_crew = dict(
            zip(crews, await self._count_each(self._crew_query(c) for c in crews), strict=True)
        )
        for crew, waiting in by_crew.items():
            counts |= await self._by_task(crew, waiting)
        if (unknown := total - sum(by_crew.values())) > 0:
            counts[(OTHER, OTHER)] = unknown
        return counts

    async def _by_task(self, crew: str, waiting: int) -> Counts:
        tasks = self._tasks[crew]
        if waiting == 0:
            return {}
        if len(tasks) == 1:
            return {(crew, tasks[0]): waiting}
        queries = (
            f"{self._crew_query(crew)} AND {sa.PENDING_TASK_ID.name} = {quoted(task)}"
            for task in tasks
        )
        counts = dict(
            zip(((crew, task) for task in tasks), await self._count_each(queries), strict=True)
        )
        if (unknown := waiting - sum(counts.values())) > 0:
            counts[(crew, OTHER)] = unknown
        return counts

    def _crew_query(self, crew: str) -> str:
        return f"{WAITING} AND {sa.CREW_NAME.name} = {quoted(crew)}"

    async def _count_each(self, queries: Iterable[str]) -> list[int]:
        return list(await asyncio.gather(*(self._gateway.count_runs(q) for q in queries)))

    def collect(self) -> Iterator[Metric]:
        if self._counts is None:
            return
        family = GaugeMetricFamily(
            m.RUNS_WAITING.name, m.RUNS_WAITING.help, labels=m.RUNS_WAITING.labels
        )
        for (crew, task), waiting in sorted(self._counts.items()):
            family.add_metric([crew, task], waiting)
        yield family
