"""The watcher figure of `make bench`: what clients who merely follow paused runs cost. With
`paused` runs waiting for a decision, `clients` watchers spread evenly over the runs — every
other one a long-poll (GET /status?wait=&since=), the rest server-sent event streams (GET
/events) — wait for news for `seconds`; the CPU the worker and the Temporal server
spend meanwhile is compared with the same window without them, and runs going through
meanwhile are timed with and without the watchers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from drivers import CrewHitlDriver, full_run
from http_client import LeanClient
from procs import cpu_seconds
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


async def runs_per_s(driver: CrewHitlDriver, receiver: Receiver, runs: int) -> float:
    gate = asyncio.Semaphore(25)

    async def bounded() -> None:
        async with gate:
            await full_run(driver, receiver)

    start = time.monotonic()
    await asyncio.gather(*(bounded() for _ in range(runs)))
    return runs / (time.monotonic() - start)


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
    alone = await runs_per_s(driver, receiver, runs)

    api = LeanClient("127.0.0.1", port, token, size=clients + 10)
    stop = asyncio.Event()
    pollers = []
    for n in range(clients):  # clients arrive over a few seconds, 100 at a time
        run_id = run_ids[n % paused]
        follow = (
            long_poller(api, run_id, stop)
            if n % 2 == 0
            else event_streamer(port, token, run_id, stop)
        )
        pollers.append(asyncio.create_task(follow))
        if n % 100 == 99:
            await asyncio.sleep(0.5)
    await asyncio.sleep(5)  # every client has asked once and waits
    watched = await cpu_percent_over(pids, seconds)
    along = await runs_per_s(driver, receiver, runs)
    stop.set()
    answers = await asyncio.gather(*pollers)
    await api.close()
    added = {name: watched[name] - quiet[name] for name in pids}
    return {
        "clients": clients,
        "paused_runs": paused,
        "seconds": seconds,
        "cpu_percent_quiet": quiet,
        "cpu_percent_watched": watched,
        "cpu_percent_added": added,
        "worker_and_server_added_percent": added["worker"] + added["temporal"],
        "runs_per_s_alone": alone,
        "runs_per_s_watched": along,
        "throughput_drop_percent": (alone - along) * 100 / alone,
        "long_poll_answers": sum(answers[0::2]),
        "stream_events": sum(answers[1::2]),
    }


def watcher_lines(result: dict[str, Any]) -> list[str]:
    added = result["cpu_percent_added"]
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
    ]
