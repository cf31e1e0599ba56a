"""The watcher figure of `make bench`: what clients who merely follow paused runs cost. With
`paused` runs waiting for a decision, `clients` watchers spread evenly over the runs — every
other one a long-poll (GET /status?wait=&since=), the rest server-sent event streams (GET
/events) — wait for news for `seconds`; the CPU the worker and the Temporal server
spend meanwhile is compared with the same window without them, and runs going through
meanwhile are timed with and without the watchers (two batches each way, interleaved)."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from api.followers import LINGER_SECONDS
from drivers import CrewHitlDriver, full_run
from http_client import LeanClient
from procs import cpu_seconds, host_steal, steal_percent
from receiver import Receiver

WAIT_SECONDS = 20


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


async def cpu_percent_over(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """Each process's CPU over the next `seconds`, in % of one core."""
    before = cpu_of(pids)
    await asyncio.sleep(seconds)
    after = cpu_of(pids)
    return {name: (after[name] - before[name]) * 100 / seconds for name in pids}


async def long_poller(api: LeanClient, run_id: str, stop: asyncio.Event) -> int:
    """A client following one run: asks again whenever an answer comes; the answers it got."""
    status = await api.get(f"/status/{run_id}")
    answers = 0
    while not stop.is_set():
        path = f"/status/{run_id}?wait={WAIT_SECONDS}&since={status['version']}"
        status = await api.get(path)
        answers += 1
    return answers


async def event_streamer(port: int, token: str, run_id: str, stop: asyncio.Event) -> int:
    """A client following one run's server-sent events until `stop`; the events it got."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /events/{run_id} HTTP/1.1\r\nHost: bench\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    status = (await reader.readline()).split()
    if status[1:2] != [b"200"]:
        raise RuntimeError(f"GET /events/{run_id}: {status}")
    events = 0

    async def read() -> None:
        nonlocal events
        while line := await reader.readline():
            events += line.startswith(b"event:")

    reading = asyncio.create_task(read())
    await stop.wait()
    reading.cancel()
    writer.close()
    return events


@dataclass
class Batch:
    """Runs taken through end to end, 25 at a time: how fast, and the CPU they cost each process."""

    runs_per_s: float
    cpu_ms_per_run: dict[str, float]
    steal_percent: float  # of the host's CPU time its hypervisor gave other guests meanwhile


async def batch(
    driver: CrewHitlDriver, receiver: Receiver, runs: int, pids: dict[str, int]
) -> Batch:
    gate = asyncio.Semaphore(25)

    async def bounded() -> None:
        async with gate:
            await full_run(driver, receiver)

    cpu_before, steal_before = cpu_of(pids), host_steal()
    start = time.monotonic()
    await asyncio.gather(*(bounded() for _ in range(runs)))
    elapsed = time.monotonic() - start
    cpu_after = cpu_of(pids)
    cpu = {name: (cpu_after[name] - cpu_before[name]) * 1000 / runs for name in pids}
    return Batch(runs / elapsed, cpu, steal_percent(steal_before, host_steal()))


def cpu_per_run(batches: list[Batch]) -> dict[str, float]:
    return {
        name: statistics.fmean(b.cpu_ms_per_run[name] for b in batches)
        for name in batches[0].cpu_ms_per_run
    }


class Watchers:
    """`clients` watchers spread over `run_ids`: every other one a long-poll, the rest streams."""

    def __init__(self, port: int, token: str, run_ids: list[str], clients: int) -> None:
        self.port, self.token, self.run_ids, self.clients = port, token, run_ids, clients
        self.answers = [0, 0]  # long-poll answers, stream events

    async def __aenter__(self) -> Watchers:
        self._api = LeanClient("127.0.0.1", self.port, self.token, size=self.clients + 10)
        self._stop = asyncio.Event()
        self._pollers = []
        for n in range(self.clients):  # clients arrive over a few seconds, 100 at a time
            run_id = self.run_ids[n % len(self.run_ids)]
            follow = (
                long_poller(self._api, run_id, self._stop)
                if n % 2 == 0
                else event_streamer(self.port, self.token, run_id, self._stop)
            )
            self._pollers.append(asyncio.create_task(follow))
            if n % 100 == 99:
                await asyncio.sleep(0.5)
        await asyncio.sleep(5)  # every client has asked once and waits
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        answers = await asyncio.gather(*self._pollers)
        self.answers[0] += sum(answers[0::2])
        self.answers[1] += sum(answers[1::2])
        await self._api.close()
        await asyncio.sleep(LINGER_SECONDS)  # the runs' followers retire


async def watchers(
    driver: CrewHitlDriver,
    receiver: Receiver,
    port: int,
    token: str,
    pids: dict[str, int],
    clients: int,
    paused: int,
    seconds: float,
    runs: int,
) -> dict[str, Any]:
    run_ids = []
    for _ in range(paused):
        run_id = await driver.kickoff()
        await receiver.wait(run_id, 1, timeout=120)
        run_ids.append(run_id)
    await asyncio.sleep(5)  # deliveries settle
    quiet = await cpu_percent_over(pids, seconds)
    # Batches go without, with, with, without, twice, so a drift of the host's speed weighs on
    # both sides alike: on this VM, batches of the same kind a minute apart differed by up to
    # half, and one batch each way gave drops from -25 % to +31 % in runs of the same code.
    # The CPU per run is no steadier: it rises and falls with the steal too (46-73 ms on the
    # server in batches of one run), so each batch reports the steal beside its figures.
    alone: list[Batch] = []
    along: list[Batch] = []
    watched: dict[str, float] = {}
    following = Watchers(port, token, run_ids, clients)
    for _ in range(2):
        alone.append(await batch(driver, receiver, runs, pids))
        async with following:
            if not watched:  # the CPU window, once
                watched = await cpu_percent_over(pids, seconds)
            along += [await batch(driver, receiver, runs, pids) for _ in range(2)]
        alone.append(await batch(driver, receiver, runs, pids))
    added = {name: watched[name] - quiet[name] for name in pids}
    runs_alone = statistics.fmean(b.runs_per_s for b in alone)
    runs_along = statistics.fmean(b.runs_per_s for b in along)
    return {
        "clients": clients,
        "paused_runs": paused,
        "seconds": seconds,
        "cpu_percent_quiet": quiet,
        "cpu_percent_watched": watched,
        "cpu_percent_added": added,
        "worker_and_server_added_percent": added["worker"] + added["temporal"],
        "runs_per_s_alone": runs_alone,
        "runs_per_s_watched": runs_along,
        "batches": {"alone": [asdict(b) for b in alone], "watched": [asdict(b) for b in along]},
        "cpu_ms_per_run_alone": cpu_per_run(alone),
        "cpu_ms_per_run_watched": cpu_per_run(along),
        "throughput_drop_percent": (runs_alone - runs_along) * 100 / runs_alone,
        "long_poll_answers": following.answers[0],
        "stream_events": following.answers[1],
    }


def watcher_lines(result: dict[str, Any]) -> list[str]:
    added = result["cpu_percent_added"]
    batches = result["batches"]
    return [
        "",
        f"| {result['clients']:,} watchers (half long-polls, half event streams) on "
        f"{result['paused_runs']} paused runs, "
        f"{result['seconds']:.0f} s | crew-hitl |",
        "| --- | --- |",
        f"| CPU added, worker + server (% of one core) | "
        f"{result['worker_and_server_added_percent']:.1f} % (goal < 5 %) |",
        f"| CPU added, worker / server / API | {added['worker']:.1f} / "
        f"{added['temporal']:.1f} / {added['api']:.1f} % |",
        f"| runs/s meanwhile, without / with watchers | {result['runs_per_s_alone']:.1f} / "
        f"{result['runs_per_s_watched']:.1f} ({result['throughput_drop_percent']:.1f} % drop, "
        "goal < 5 %) |",
        f"| runs/s of each batch, without / with | {spread(batches['alone'])} / "
        f"{spread(batches['watched'])} |",
        *(
            f"| CPU per run meanwhile, {name}, without / with | "
            f"{result['cpu_ms_per_run_alone'][name]:.1f} / "
            f"{result['cpu_ms_per_run_watched'][name]:.1f} ms |"
            for name in result["cpu_ms_per_run_alone"]
        ),
    ]


def spread(batches: list[dict[str, Any]]) -> str:
    """Each batch's runs/s, with the host's steal meanwhile when there was any to speak of."""
    return ", ".join(
        f"{b['runs_per_s']:.1f}"
        + (f" ({b['steal_percent']:.0f} % stolen)" if b["steal_percent"] >= 1 else "")
        for b in batches
    )
