"""Keeps `make run` up when a part of it dies: a crashed worker or API is started again, after
a pause that grows while it keeps crashing (1 s, 2 s, 5 s, 10 s, then every 30 s), and logged.
A crash loses nothing: runs wait in Temporal for a worker, and decisions sent meanwhile are
kept by the server. Only the Temporal server's death stops everything."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from runner.stack import Stack

BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
# A part that ran this long before it died starts over at the first pause.
STABLE_SECONDS = 60.0


class TemporalExited(RuntimeError):
    pass


@dataclass
class Supervisor:
    stack: Stack
    crashes: dict[str, int] = field(default_factory=dict)
    restart_at: dict[str, float] = field(default_factory=dict)
    started_at: dict[str, float] = field(default_factory=dict)

    def check(self, now: float | None = None) -> None:
        """Schedule a restart for each part that died and start those whose pause is over;
        TemporalExited when the server died."""
        now = time.monotonic() if now is None else now
        for name, process in list(self.stack.processes.items()):
            code = process.poll()
            if code is None:
                continue
            if name == "temporal":
                raise TemporalExited(f"the Temporal server exited with {code}")
            if name not in self.restart_at:
                self._schedule(name, code, now)
        for name, at in list(self.restart_at.items()):
            if now >= at:
                del self.restart_at[name]
                self._restart(name, now)

    def _schedule(self, name: str, code: int, now: float) -> None:
        if now - self.started_at.get(name, now) >= STABLE_SECONDS:
            self.crashes[name] = 0
        crashes = self.crashes.get(name, 0)
        wait = BACKOFF_SECONDS[min(crashes, len(BACKOFF_SECONDS) - 1)]
        self.crashes[name] = crashes + 1
        self.restart_at[name] = now + wait
        print(
            f"crew-hitl: {name} exited with {code}; starting it again in {wait:.0f}s",
            file=sys.stderr,
            flush=True,
        )

    def _restart(self, name: str, now: float) -> None:
        try:
            if name == "api":
                self.stack.start_api()
            else:
                self.stack.start_worker(name)
        except RuntimeError as err:
            print(f"crew-hitl: {name} did not start: {err}", file=sys.stderr, flush=True)
            return  # seen dead again on the next check, with a longer pause
        self.started_at[name] = now
        print(f"crew-hitl: {name} started again", flush=True)
