"""`make bench`: crew-hitl against the leanest hand-written temporalio program, on one dev
server, one machine, in one run. Prints one table and writes bench/results.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from temporalio.client import Client

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from crew_hitl.outbound import LOOPBACK  # noqa: E402
from crew_hitl.settings import Settings  # noqa: E402
from drivers import CrewHitlDriver, ReferenceDriver, full_run  # noqa: E402
from http_client import LeanClient  # noqa: E402
from procs import cpu_seconds, rss_mb  # noqa: E402
from receiver import Receiver  # noqa: E402
from runner.stack import Stack, on_free_ports  # noqa: E402
from watchers import watcher_lines, watchers  # noqa: E402

TOKEN = "bench-token"
Driver = ReferenceDriver | CrewHitlDriver


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    return {
        "p50": percentile(ms, 50),
        "p99": percentile(ms, 99),
        "n": len(ms),
        "samples": [round(v, 1) for v in ms],
    }


async def one_round_trip(driver: Driver, receiver: Receiver) -> tuple[float, float, float]:
    """kickoff → first webhook, then reject → next webhook; approve and wait for the end.
    Also how long the kickoff call itself took."""
    start = time.monotonic()
    run_id = await driver.kickoff()
    call = time.monotonic() - start
    first = await receiver.wait(run_id, 1) - start
    await asyncio.sleep(0.2)  # a reviewer takes longer than this to read
    start = time.monotonic()
    await driver.resume(run_id, False, "Add sources")
    second = await receiver.wait(run_id, 2) - start
    await driver.resume(run_id, True, "ok")
    await receiver.wait_done(run_id)
    return first, second, call


async def latency(
    drivers: list[Driver], receiver: Receiver, runs: int, block: int = 10
) -> dict[str, Any]:
    """Concurrency 1, the systems taking turns in blocks of `block` runs, so drift on the
    machine hits both alike. (The dev server sometimes takes 20-100 ms to hand a new run's
    first workflow task to its worker, in stretches; turns of one run each concentrated the
    stalls on one system, blocks spread them.)"""
    samples: dict[str, list[list[float]]] = {d.name: [[], [], []] for d in drivers}
    for start in range(0, runs, block):
        for driver in drivers:
            for _ in range(min(block, runs - start)):
                for series, value in zip(
                    samples[driver.name], await one_round_trip(driver, receiver), strict=True
                ):
                    series.append(value)
    return {
        name: {
            "kickoff_to_webhook_ms": summary_ms(k),
            "resume_to_webhook_ms": summary_ms(r),
            "kickoff_call_ms": summary_ms(c),
        }
        for name, (k, r, c) in samples.items()
    }


async def throughput(
    driver: Driver, receiver: Receiver, runs: int, concurrency: int, pids: dict[str, int]
) -> dict[str, Any]:
    """Runs per second with `concurrency` runs in flight, the CPU each process spent, and how
    long a kickoff took to bring its first webhook meanwhile."""
    gate = asyncio.Semaphore(concurrency)

    async def bounded() -> float:
        async with gate:
            return await full_run(driver, receiver)

    pids = pids | {"bench driver": os.getpid()}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    start = time.monotonic()
    firsts = await asyncio.gather(*(bounded() for _ in range(runs)))
    elapsed = time.monotonic() - start
    return {
        "runs": runs,
        "seconds": elapsed,
        "firsts": list(firsts),
        "cpu_seconds": {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()},
    }


async def throughputs(
    drivers: list[Driver],
    receiver: Receiver,
    runs: int,
    concurrency: int,
    pids: dict[str, dict[str, int]],
    turns: int = 4,
) -> dict[str, dict[str, Any]]:
    """`throughput` for each system, taking turns of runs / turns each (a busy minute on the
    shared machine then lands on both, not on whichever ran in it)."""
    parts: dict[str, list[dict[str, Any]]] = {d.name: [] for d in drivers}
    for turn in range(turns):
        share = runs // turns + (1 if turn < runs % turns else 0)
        for driver in drivers:
            print(f"throughput: {driver.name}, turn {turn + 1}/{turns}", file=sys.stderr)
            parts[driver.name].append(
                await throughput(driver, receiver, share, concurrency, pids[driver.name])
            )
    results = {}
    for name, turns_done in parts.items():
        total = sum(t["runs"] for t in turns_done)
        seconds = sum(t["seconds"] for t in turns_done)
        cpu = {
            p: sum(t["cpu_seconds"][p] for t in turns_done) for p in turns_done[0]["cpu_seconds"]
        }
        results[name] = {
            "runs_per_s": total / seconds,
            "loaded_kickoff_to_webhook_ms": summary_ms(
                [f for t in turns_done for f in t["firsts"]]
            ),
            "cpu_ms_per_run": {p: c * 1000 / total for p, c in cpu.items()},
        }
    return results


async def scale(
    driver: CrewHitlDriver, api: LeanClient, receiver: Receiver, stack: Stack, runs: int
) -> dict[str, Any]:
    gate = asyncio.Semaphore(50)
    paused: list[str] = []

    async def pause_one() -> None:
        async with gate:
            run_id = await driver.kickoff()
            await receiver.wait(run_id, 1, timeout=600)
            paused.append(run_id)

    start = time.monotonic()
    batch = 500
    for offset in range(0, runs, batch):
        await asyncio.gather(*(pause_one() for _ in range(min(batch, runs - offset))))
        print(f"  {len(paused)}/{runs} runs paused", file=sys.stderr, flush=True)
    kickoff_rate = runs / (time.monotonic() - start)
    await asyncio.sleep(15)  # at rest
    worker_pid = stack.processes["worker"].pid
    api_pid = stack.processes["api"].pid
    temporal_pid = stack.processes["temporal"].pid
    rest = {
        "worker_rss_mb": rss_mb(worker_pid),
        "api_rss_mb": rss_mb(api_pid),
        "temporal_rss_mb": rss_mb(temporal_pid),
    }

    status_times = []
    for run_id in random.sample(paused, min(300, len(paused))):
        t0 = time.monotonic()
        status = await api.get(f"/status/{run_id}")
        status_times.append(time.monotonic() - t0)
        assert status["state"] == "PENDING_HUMAN_INPUT", status

    async def resume_time(run_id: str) -> float:
        t0 = time.monotonic()
        await driver.resume(run_id, False, "Add sources")
        return await receiver.wait(run_id, 2) - t0

    cold = [await resume_time(run_id) for run_id in paused[:30]]  # long evicted
    warm = []
    for _ in range(30):
        run_id = await driver.kickoff()
        await receiver.wait(run_id, 1)
        await asyncio.sleep(0.2)
        warm.append(await resume_time(run_id))
    return {
        "paused_runs": runs,
        "kickoff_and_pause_per_s": kickoff_rate,
        **rest,
        "status_ms": summary_ms(status_times),
        "cold_resume_ms": summary_ms(cold),
        "warm_resume_ms": summary_ms(warm),
    }


def start_stack(workdir: Path) -> tuple[Stack, subprocess.Popen[bytes]]:
    settings = on_free_ports(
        Settings(
            api_token=TOKEN,
            crews_dir=BENCH / "crews",
            default_crew="review",
            log_level="WARNING",
            webhook_allow=LOOPBACK,
            # The watcher figure holds 1,000 long-polls open beside the runs going through.
            api_max_connections=4000,
        ),
        workdir / "data",
    )
    stack = Stack(settings, log_dir=workdir / "logs")
    stack.start_temporal()
    reference = subprocess.Popen(
        [
            sys.executable,
            str(BENCH / "reference.py"),
            "worker",
            "--address",
            settings.temporal_address,
        ],
        stdout=(workdir / "logs" / "reference.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    stack.start_worker()
    stack.start_api()
    stack.wait_healthy()
    return stack, reference


def table(results: dict[str, Any]) -> str:
    ref, ours = results["systems"]["reference"], results["systems"]["crew-hitl"]
    rows = [("metric", "reference", "crew-hitl", "crew-hitl / reference")]
    for key, label in (
        ("kickoff_to_webhook_ms", "kickoff → first webhook"),
        ("resume_to_webhook_ms", "reject → next webhook"),
    ):
        for q in ("p50", "p99"):
            a, b = ref[key][q], ours[key][q]
            rows.append((f"{label} {q} (ms)", f"{a:.1f}", f"{b:.1f}", f"{b / a:.2f}"))
    a, b = ref["runs_per_s"], ours["runs_per_s"]
    rows.append(("throughput, 50 in flight (runs/s)", f"{a:.1f}", f"{b:.1f}", f"{b / a:.2f}"))
    for q in ("p50", "p99"):
        a, b = ref["loaded_kickoff_to_webhook_ms"][q], ours["loaded_kickoff_to_webhook_ms"][q]
        label = f"kickoff → first webhook {q}, 50 in flight (ms)"
        rows.append((label, f"{a:.0f}", f"{b:.0f}", f"{b / a:.2f}"))
    for name in ("temporal", "worker", "api", "bench driver"):
        a = ref["cpu_ms_per_run"].get(name)
        b = ours["cpu_ms_per_run"].get(name)
        rows.append(
            (
                f"CPU per run, {name} (ms)",
                f"{a:.1f}" if a is not None else "-",
                f"{b:.1f}" if b is not None else "-",
                f"{b / a:.2f}" if a and b is not None else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    if results.get("watchers"):
        lines += watcher_lines(results["watchers"])
    scale_result = results.get("scale")
    if scale_result:
        cold_over_warm = (
            scale_result["cold_resume_ms"]["p50"] / scale_result["warm_resume_ms"]["p50"]
        )
        pause_rate = scale_result["kickoff_and_pause_per_s"]
        lines += [
            "",
            f"| {scale_result['paused_runs']:,} paused runs | crew-hitl |",
            "| --- | --- |",
            f"| worker RSS at rest | {scale_result['worker_rss_mb']:.0f} MB |",
            f"| API RSS at rest | {scale_result['api_rss_mb']:.0f} MB |",
            f"| Temporal dev server RSS | {scale_result['temporal_rss_mb']:.0f} MB |",
            f"| GET /status p50 / p99 | {scale_result['status_ms']['p50']:.1f} / "
            f"{scale_result['status_ms']['p99']:.1f} ms |",
            f"| reject → next webhook, evicted run, p50 | "
            f"{scale_result['cold_resume_ms']['p50']:.1f} ms |",
            f"| reject → next webhook, cached run, p50 | "
            f"{scale_result['warm_resume_ms']['p50']:.1f} ms |",
            f"| cold / warm | {cold_over_warm:.2f} |",
            f"| kickoff → paused, 50 in flight | {pause_rate:.1f} runs/s |",
        ]
    return "\n".join(lines)


async def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    stack, reference_worker = start_stack(workdir)
    receiver = Receiver()
    await receiver.start()
    try:
        address = stack.settings.temporal_address
        plain = await Client.connect(address)
        api = LeanClient("127.0.0.1", stack.settings.api_port, TOKEN)
        try:
            drivers: list[Driver] = [
                ReferenceDriver(plain, receiver.url, "reference"),
                CrewHitlDriver(api, receiver.url),
            ]
            print("warming up", file=sys.stderr, flush=True)
            await latency(drivers, receiver, 3)
            print(f"latency: {args.latency_runs} runs each, concurrency 1", file=sys.stderr)
            systems = await latency(drivers, receiver, args.latency_runs)
            temporal_pid = stack.processes["temporal"].pid
            pids = {
                "reference": {"temporal": temporal_pid, "worker": reference_worker.pid},
                "crew-hitl": {
                    "temporal": temporal_pid,
                    "worker": stack.processes["worker"].pid,
                    "api": stack.processes["api"].pid,
                },
            }
            loaded = await throughputs(
                drivers, receiver, args.throughput_runs, args.concurrency, pids
            )
            for name, figures in loaded.items():
                systems[name] |= figures
            results: dict[str, Any] = {"systems": systems}
            if args.watchers:
                print(f"watchers: {args.watchers} long-polls", file=sys.stderr, flush=True)
                results["watchers"] = await watchers(
                    drivers[1],
                    receiver,
                    stack.settings.api_port,
                    TOKEN,
                    pids["crew-hitl"],
                    clients=args.watchers,
                    paused=args.watched_runs,
                    seconds=args.watch_seconds,
                    runs=args.watch_throughput_runs,
                )
            if args.scale_runs:
                print(f"scale: {args.scale_runs} paused runs", file=sys.stderr, flush=True)
                results["scale"] = await scale(drivers[1], api, receiver, stack, args.scale_runs)
        finally:
            await api.close()
    finally:
        reference_worker.terminate()
        reference_worker.wait()
        stack.stop()
    return results


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-runs", type=int, default=100)
    parser.add_argument("--throughput-runs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--scale-runs", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--watched-runs", type=int, default=100)
    parser.add_argument("--watch-seconds", type=float, default=60.0)
    parser.add_argument("--watch-throughput-runs", type=int, default=100)
    parser.add_argument("--output", type=Path, default=BENCH / "results.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crew-hitl-bench-") as tmp:
        results = asyncio.run(bench(args, Path(tmp)))
    results["machine"] = machine()
    results["settings"] = vars(args) | {"output": str(args.output)}
    ref, ours = results["systems"]["reference"], results["systems"]["crew-hitl"]
    results["ratios"] = {
        "kickoff_to_webhook_p50": ours["kickoff_to_webhook_ms"]["p50"]
        / ref["kickoff_to_webhook_ms"]["p50"],
        "resume_to_webhook_p50": ours["resume_to_webhook_ms"]["p50"]
        / ref["resume_to_webhook_ms"]["p50"],
        "throughput": ours["runs_per_s"] / ref["runs_per_s"],
        "loaded_kickoff_to_webhook_p50": ours["loaded_kickoff_to_webhook_ms"]["p50"]
        / ref["loaded_kickoff_to_webhook_ms"]["p50"],
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
