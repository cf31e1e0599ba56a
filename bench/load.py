"""`make load`: 1,000 runs, each rejected once with feedback and then approved, 100 in
flight, against the service as `make run` starts it (or one already running: --url and
--token). Prints runs completed and lost, p50/p99 per step, wall time and the peak RSS of
each process; writes bench/load_results.json.

A run is lost unless it ends in SUCCESS with exactly the two decisions sent, and every
webhook it sent (deduplicated by `webhook-id`) reached the loopback receiver."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from crew_hitl.settings import PREFIX  # noqa: E402
from http_client import LeanClient  # noqa: E402
from receiver import serve_posts  # noqa: E402
from run import cpu_seconds, machine, percentile  # noqa: E402
from runner.stack import free_port  # noqa: E402

CREWS_DIRS = {"review": BENCH / "crews", "research": ROOT / "crews"}
HOOK_TOKEN = "load-hook"
FEEDBACK = "Add sources for every point"
APPROVAL = "Good. Keep it short."
ASKED = "human_input_requested"
DONE = "crew_completed"
STEPS = {
    "kickoff": f"kickoff → first {ASKED}",
    "reject": f"reject → round 2 {ASKED}",
    "approve": f"approve → {DONE}",
}
HTTP_TIMEOUT = 60.0
SETTLE_SECONDS = 60.0
TERMINAL = {"SUCCESS", "FAILED", "STOPPED"}
ROLES = {"temporal": "start-dev", "worker": "worker", "api": "api.app"}


# ---------------------------------------------------------------- webhook receiver


@dataclass
class Hook:
    webhook_id: str
    event: str
    round: int | None
    task_id: str | None
    at: float
    authorized: bool


class Hooks:
    """A loopback receiver that keeps each webhook once per `webhook-id`, by run.
    (bench/receiver.py's Receiver keys on rounds only; this needs the headers too.)"""

    def __init__(self, token: str) -> None:
        self._auth = f"Bearer {token}"
        self.by_id: dict[str, Hook] = {}
        self.by_run: dict[str, list[Hook]] = defaultdict(list)
        self.duplicates = 0
        self.without_id = 0
        self._first: dict[tuple[str, str, int | None], Hook] = {}
        self._waiters: dict[tuple[str, str, int | None], asyncio.Future[Hook]] = {}
        self.server: asyncio.Server | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}{path}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def wait(
        self, kickoff_id: str, event: str, round_number: int | None, timeout: float
    ) -> Hook:
        """The first webhook of this event (and round) for the run, once it has arrived."""
        key = (kickoff_id, event, round_number)
        if key in self._first:
            return self._first[key]
        future = self._waiters.setdefault(key, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiters.pop(key, None)

    def _arrived(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        webhook_id = headers.get("webhook-id")
        if not webhook_id:
            self.without_id += 1
            webhook_id = f"missing-{len(self.by_id)}"
        if webhook_id in self.by_id:
            self.duplicates += 1
            return
        hook = Hook(
            webhook_id=webhook_id,
            event=str(body.get("event")),
            round=body.get("round"),
            task_id=body.get("task_id"),
            at=time.monotonic(),
            authorized=path != "/hitl" or headers.get("authorization") == self._auth,
        )
        self.by_id[webhook_id] = hook
        kickoff_id = str(body.get("kickoff_id"))
        self.by_run[kickoff_id].append(hook)
        key = (kickoff_id, hook.event, hook.round)
        self._first.setdefault(key, hook)
        future = self._waiters.get(key)
        if future is not None and not future.done():
            future.set_result(hook)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_posts(reader, writer, self._arrived)


# ---------------------------------------------------------------- processes


def proc_stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(proc_stat_fields(int(entry.name))[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def service_processes(supervisor: int) -> dict[str, int]:
    """The Temporal dev server, worker and API that `python -m runner` started."""
    found = {"supervisor": supervisor}
    for child in children_of(supervisor):
        command = command_line(child)
        for role, mark in ROLES.items():
            if mark in command:
                found[role] = child
    return found


def listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    return inodes


def listener_pid(port: int) -> int | None:
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in wanted for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue
    return None


def locate_service(port: int) -> dict[str, int]:
    """For --url: the API listening on the port and, when `make run` started it, the
    processes beside it."""
    api = listener_pid(port)
    if api is None:
        return {}
    parent = int(proc_stat_fields(api)[1])
    if "runner" in command_line(parent):
        return service_processes(parent)
    return {"api": api}


def status_mb(pid: int, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_or_none(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except OSError:
        return None


class RssSampler:
    """Peak VmRSS per process, sampled every `every` seconds while the load runs."""

    def __init__(self, pids: dict[str, int], every: float = 0.5) -> None:
        self.pids = pids
        self.every = every
        self.peaks: dict[str, float] = {}
        self.samples = 0

    def sample(self) -> None:
        self.samples += 1
        for name, pid in self.pids.items():
            rss = status_mb(pid, "VmRSS")
            if rss is not None:
                self.peaks[name] = max(rss, self.peaks.get(name, 0.0))

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every)


# ---------------------------------------------------------------- the service


def service_env(workdir: Path, crew: str, token: str, log_level: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    settings = {
        "DATA_DIR": str(workdir / "data"),
        "CREWS_DIR": str(CREWS_DIRS[crew]),
        "DEFAULT_CREW": crew,
        "API_TOKEN": token,
        "API_PORT": str(free_port()),
        "TEMPORAL_PORT": str(free_port()),
        "TEMPORAL_UI_PORT": str(free_port()),
        "LOG_LEVEL": log_level,
    }
    return env | {PREFIX + name: value for name, value in settings.items()}


def start_service(workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`make run`, in its own process group so that stopping it is a Ctrl-C to that group."""
    log = (workdir / "service.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "runner"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_service(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


async def wait_healthy(
    api: LeanClient, process: subprocess.Popen[bytes] | None, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode}")
        try:
            status, _ = await asyncio.wait_for(api.request("GET", "/health"), 5)
            if status == 200:
                return
        except (OSError, TimeoutError, IndexError):
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the service is not healthy after {timeout:.0f}s")


def loopback_target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = host == "localhost"
    if not loopback:
        with contextlib.suppress(ValueError):
            loopback = ipaddress.ip_address(host).is_loopback
    if parts.scheme != "http" or not loopback or parts.port is None:
        raise SystemExit(f"--url must be http://<loopback address>:<port>, not {url!r}")
    return host, parts.port


# ---------------------------------------------------------------- the load


@dataclass
class Outcome:
    index: int
    kickoff_id: str | None = None
    task_id: str | None = None
    stage: str = "kickoff"
    steps: dict[str, float] = field(default_factory=dict)
    calls: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    degraded: bool = False


class Load:
    def __init__(self, api: LeanClient, hooks: Hooks, crew: str, timeout: float) -> None:
        self.api = api
        self.hooks = hooks
        self.crew = crew
        self.timeout = timeout

    def kickoff_body(self, index: int) -> dict[str, Any]:
        return {
            "inputs": {"topic": "AI Research"},
            "crew": self.crew,
            "meta": {"load_run": index},
            "humanInputWebhook": {
                "url": self.hooks.url("/hitl"),
                "authentication": {"strategy": "bearer", "token": HOOK_TOKEN},
            },
            "taskWebhookUrl": self.hooks.url("/task"),
            "crewWebhookUrl": self.hooks.url("/crew"),
        }

    async def call(self, outcome: Outcome, name: str, path: str, body: Any) -> Any:
        start = time.monotonic()
        answer = await asyncio.wait_for(self.api.post(path, body), HTTP_TIMEOUT)
        outcome.calls[name] = time.monotonic() - start
        return answer

    async def one_run(self, outcome: Outcome) -> None:
        start = time.monotonic()
        answer = await self.call(outcome, "kickoff", "/kickoff", self.kickoff_body(outcome.index))
        outcome.kickoff_id = answer["kickoff_id"]
        outcome.stage = "first webhook"
        first = await self.hooks.wait(answer["kickoff_id"], ASKED, 1, self.timeout)
        outcome.steps["kickoff"] = first.at - start
        outcome.task_id = first.task_id
        outcome.steps["reject"] = await self.decide(outcome, False, FEEDBACK, (ASKED, 2))
        outcome.steps["approve"] = await self.decide(outcome, True, APPROVAL, (DONE, None))

    async def decide(
        self, outcome: Outcome, approve: bool, feedback: str, then: tuple[str, int | None]
    ) -> float:
        """Send a decision; seconds until the webhook that follows it."""
        assert outcome.kickoff_id is not None
        name = "approve" if approve else "reject"
        outcome.stage = name
        body = {
            "execution_id": outcome.kickoff_id,
            "task_id": outcome.task_id,
            "is_approve": approve,
            "human_feedback": feedback,
        }
        start = time.monotonic()
        await self.call(outcome, name, "/resume", body)
        outcome.stage = f"{name}: webhook {then[0]}"
        hook = await self.hooks.wait(outcome.kickoff_id, *then, self.timeout)
        return hook.at - start

    async def guarded(self, outcome: Outcome, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                await self.one_run(outcome)
            except Exception as err:
                outcome.error = f"{outcome.stage}: {type(err).__name__} {err}".strip()

    async def settled_status(self, kickoff_id: str) -> dict[str, Any]:
        """The run's status once it has ended and no delivery is pending (or as it is at the
        deadline): the last webhook may still be under way when its sibling arrived."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            status = await asyncio.wait_for(self.api.get(f"/status/{kickoff_id}"), HTTP_TIMEOUT)
            pending = any(d["state"] == "pending" for d in status.get("deliveries", []))
            if (status["state"] in TERMINAL and not pending) or time.monotonic() > deadline:
                return status
            await asyncio.sleep(0.5)

    async def verify(self, outcome: Outcome, gate: asyncio.Semaphore) -> None:
        if outcome.kickoff_id is None:
            return
        async with gate:
            try:
                status = await self.settled_status(outcome.kickoff_id)
            except Exception as err:
                outcome.problems.append(f"status: {type(err).__name__} {err}".strip())
                return
        outcome.degraded = bool(status.get("degraded"))
        outcome.problems += problems_of(status, self.hooks.by_run.get(outcome.kickoff_id, []))


def problems_of(status: dict[str, Any], hooks: list[Hook]) -> list[str]:
    problems = []
    if status["state"] != "SUCCESS":
        problems.append(f"state {status['state']} ({status.get('error')})")
    decisions = [(r["decision"], r["feedback"]) for t in status["tasks"] for r in t["rounds"]]
    if decisions != [("rejected", FEEDBACK), ("approved", APPROVAL)]:
        problems.append(f"decisions {decisions}")
    if status["ignored_resumes"]:
        problems.append(f"ignored resumes {status['ignored_resumes']}")
    received = {hook.webhook_id for hook in hooks}
    for delivery in status["deliveries"]:
        if delivery["state"] != "delivered":
            problems.append(f"webhook {delivery['event']} {delivery['state']}")
        if delivery["webhook_id"] not in received:
            problems.append(f"webhook {delivery['event']} {delivery['webhook_id']} not received")
    expected = Counter({(ASKED, 1): 1, (ASKED, 2): 1, (DONE, None): 1})
    expected[("task_completed", None)] = len(status["tasks"])
    got = Counter((hook.event, hook.round) for hook in hooks)
    if got != expected:
        problems.append(f"webhooks received {dict(got)}, expected {dict(expected)}")
    if not all(hook.authorized for hook in hooks):
        problems.append("a human-input webhook without the kickoff's bearer token")
    return problems


async def drive(load: Load, runs: int, concurrency: int) -> tuple[list[Outcome], float]:
    outcomes = [Outcome(index) for index in range(runs)]
    gate = asyncio.Semaphore(concurrency)
    tasks = [asyncio.create_task(load.guarded(outcome, gate)) for outcome in outcomes]
    start = time.monotonic()
    for done, finished in enumerate(asyncio.as_completed(tasks), start=1):
        await finished
        if done % max(1, runs // 10) == 0:
            print(f"  {done}/{runs} runs, {time.monotonic() - start:.0f}s", file=sys.stderr)
    return outcomes, time.monotonic() - start


# ---------------------------------------------------------------- results


def summary_ms(values: list[float]) -> dict[str, Any]:
    ms = [value * 1000 for value in values]
    figures = {f"p{q}": percentile(ms, q) for q in (50, 90, 99)}
    figures["max"] = max(ms, default=float("nan"))
    return {name: round(value, 1) for name, value in figures.items()} | {"n": len(ms)}


def lost_runs(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    return [
        {"run": o.index, "kickoff_id": o.kickoff_id, "error": o.error, "problems": o.problems}
        for o in outcomes
        if o.error or o.problems
    ]


def results_of(
    outcomes: list[Outcome], wall: float, hooks: Hooks, processes: dict[str, Any]
) -> dict[str, Any]:
    lost = lost_runs(outcomes)
    return {
        "runs": len(outcomes),
        "completed": len(outcomes) - len(lost),
        "lost": len(lost),
        "errors": dict(Counter(o.error.split(":")[0] for o in outcomes if o.error)),
        "lost_runs": lost[:50],
        "wall_s": wall,
        "runs_per_s": len(outcomes) / wall,
        "steps_ms": {
            name: summary_ms([o.steps[name] for o in outcomes if name in o.steps]) for name in STEPS
        },
        "calls_ms": {
            name: summary_ms([o.calls[name] for o in outcomes if name in o.calls]) for name in STEPS
        },
        "webhooks": {
            "received": len(hooks.by_id),
            "duplicates": hooks.duplicates,
            "without_webhook_id": hooks.without_id,
            "by_event": dict(Counter(hook.event for hook in hooks.by_id.values())),
        },
        "degraded_status_answers": sum(o.degraded for o in outcomes),
        "processes": processes,
    }


def process_figures(
    sampler: RssSampler, cpu_before: dict[str, float | None]
) -> dict[str, dict[str, Any]]:
    figures = {}
    for name, pid in sampler.pids.items():
        before, after = cpu_before.get(name), cpu_or_none(pid)
        figures[name] = {
            "pid": pid,
            "peak_rss_mb": sampler.peaks.get(name),
            "vm_hwm_mb": status_mb(pid, "VmHWM"),
            "cpu_s": after - before if before is not None and after is not None else None,
        }
    return figures


def table(results: dict[str, Any]) -> str:
    lines = [
        "| figure | value |",
        "| --- | --- |",
        f"| runs completed | {results['completed']:,} of {results['runs']:,} |",
        f"| lost | {results['lost']} |",
    ]
    for name, label in STEPS.items():
        step = results["steps_ms"][name]
        lines.append(f"| {label}, p50 / p99 | {step['p50']:.0f} / {step['p99']:.0f} ms |")
    for name, figures in results["processes"].items():
        peak = figures["peak_rss_mb"]
        cpu = figures["cpu_s"]
        lines.append(
            f"| peak RSS, {name} | {peak:.0f} MB |"
            if cpu is None
            else f"| peak RSS, {name} | {peak:.0f} MB (CPU {cpu:.1f} s) |"
        )
    lines.append(f"| wall time | {results['wall_s']:.0f} s ({results['runs_per_s']:.1f} runs/s) |")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


async def measure(
    api: LeanClient, args: argparse.Namespace, pids: dict[str, int]
) -> dict[str, Any]:
    hooks = Hooks(HOOK_TOKEN)
    await hooks.start()
    try:
        load = Load(api, hooks, args.crew, args.timeout)
        sampler = RssSampler(pids | {"load driver": os.getpid()})
        cpu_before = {name: cpu_or_none(pid) for name, pid in sampler.pids.items()}
        sampling = asyncio.create_task(sampler.run())
        print(f"load: {args.runs} runs, {args.concurrency} in flight", file=sys.stderr)
        try:
            outcomes, wall = await drive(load, args.runs, args.concurrency)
        finally:
            sampling.cancel()
        load_at_end = os.getloadavg()
        processes = process_figures(sampler, cpu_before)
        print("checking every run's status and webhooks", file=sys.stderr)
        gate = asyncio.Semaphore(min(args.concurrency, 20))
        await asyncio.gather(*(load.verify(outcome, gate) for outcome in outcomes))
    finally:
        await hooks.close()
    return results_of(outcomes, wall, hooks, processes) | {"load_average_at_end": load_at_end}


async def against(
    host: str,
    port: int,
    args: argparse.Namespace,
    process: subprocess.Popen[bytes] | None = None,
) -> dict[str, Any]:
    api = LeanClient(host, port, args.token, size=max(100, args.concurrency))
    try:
        await wait_healthy(api, process)
        pids = service_processes(process.pid) if process else locate_service(port)
        if set(ROLES) - set(pids):
            print(f"found only {sorted(pids)} of the service's processes", file=sys.stderr)
        return await measure(api, args, pids)
    finally:
        await api.close()


def run_own_service(args: argparse.Namespace) -> dict[str, Any]:
    """Start the service, load it, stop it; its data dir and log are kept when something
    went wrong (or with --keep)."""
    workdir = Path(tempfile.mkdtemp(prefix="crew-hitl-load-"))
    env = service_env(workdir, args.crew, args.token, args.log_level)
    process = start_service(workdir, env)
    keep = True
    try:
        port = int(env[PREFIX + "API_PORT"])
        results = asyncio.run(against("127.0.0.1", port, args, process))
        keep = args.keep or results["lost"] > 0
        return results
    finally:
        code = stop_service(process)
        print(f"service stopped (exit {code})", file=sys.stderr)
        if keep:
            print(f"its data and log: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--crew", choices=sorted(CREWS_DIRS), default="review")
    parser.add_argument("--url", help="a running service on loopback, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", help="its API token (with --url)")
    parser.add_argument("--log-level", default="INFO", help="of the service this starts")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per webhook wait")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and log")
    parser.add_argument("--output", type=Path, default=BENCH / "load_results.json")
    args = parser.parse_args()
    if args.url and not args.token:
        parser.error("--url needs --token")
    return args


def fmt_load(averages: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in averages)


def main() -> None:
    args = parse_args()
    load_before = os.getloadavg()
    if args.url:
        host, port = loopback_target(args.url)
        results = asyncio.run(against(host, port, args))
    else:
        args.token = secrets.token_urlsafe(24)
        results = run_own_service(args)
    load_after = os.getloadavg()
    results["load_average"] = {
        "before": load_before,
        "end_of_load": results.pop("load_average_at_end"),
        "after": load_after,
    }
    results["machine"] = machine()
    results["settings"] = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in vars(args).items()
        if key != "token"
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nload average before {fmt_load(load_before)}, after {fmt_load(load_after)}")
    print(f"written to {args.output}")
    if results["lost"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
