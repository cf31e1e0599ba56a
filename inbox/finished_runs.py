"""The decisions of finished runs, kept in the API process for the leads' page: a closed run's
status never changes, so each is read from Temporal once and a page load asks only about the
runs still open. Bounded: the least recently used run goes first. Only what the charts need is
kept (a few small records a run), never the outputs."""

from __future__ import annotations

from collections import OrderedDict

from inbox.review_stats import Decision

# Twice the runs one page load reads (review_queue.MAX_RUNS): a full window stays cached.
MAX_FINISHED_RUNS = 4096


class FinishedRuns:
    def __init__(self, capacity: int = MAX_FINISHED_RUNS) -> None:
        self._capacity = capacity
        self._decisions: OrderedDict[str, tuple[Decision, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._decisions)

    def get(self, run_id: str) -> tuple[Decision, ...] | None:
        decisions = self._decisions.get(run_id)
        if decisions is not None:
            self._decisions.move_to_end(run_id)
        return decisions

    def keep(self, run_id: str, decisions: tuple[Decision, ...]) -> None:
        self._decisions[run_id] = decisions
        self._decisions.move_to_end(run_id)
        while len(self._decisions) > self._capacity:
            self._decisions.popitem(last=False)
