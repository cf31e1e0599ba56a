"""Where crew-hitl's CPU goes under load: `--runs` runs (each rejected once, then approved) with
`--concurrency` in flight through the stack `make bench` starts, while py-spy samples the API
and the worker. Prints each process's CPU per run and its functions with the most samples (own
and with callees); writes the raw stacks to --output-dir for a flame graph.

    .venv/bin/python bench/profile.py --runs 300
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from drivers import CrewHitlDriver  # noqa: E402
from http_client import LeanClient  # noqa: E402
from receiver import Receiver  # noqa: E402
from run import TOKEN, start_stack, throughput  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"


def frame_name(frame: str) -> str:
    """`function (path/to/file.py:123)` → `function (file.py)`: one name for all its lines."""
    function, _, where = frame.partition(" (")
    return f"{function} ({where.rsplit('/', 1)[-1].split(':')[0].rstrip(')')})"


def top_functions(
    stacks: Path, count: int
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The functions with the most samples of their own, and with their callees (%)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        frames, _, samples = line.rpartition(" ")
        n = int(samples)
        total += n
        names = [frame_name(frame) for frame in frames.split(";")]
        own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
    as_percent = lambda c: [(name, n * 100 / total) for name, n in c.most_common(count)]  # noqa: E731
    return as_percent(own), as_percent(inclusive)


async def load(
    port: int, runs: int, concurrency: int, pids: dict[str, int], targets: dict[str, Path]
) -> dict:
    receiver = Receiver()
    await receiver.start()
    api = LeanClient("127.0.0.1", port, TOKEN)
    driver = CrewHitlDriver(api, receiver.url)
    await throughput(driver, receiver, 20, concurrency, pids)  # warm up
    spies = {
        name: subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--nonblocking",
                "-p",
                str(pids[name]),
                "-f",
                "raw",
                "-r",
                "200",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, out in targets.items()
    }
    await asyncio.sleep(1)
    result = await throughput(driver, receiver, runs, concurrency, pids)
    for spy in spies.values():
        spy.send_signal(signal.SIGINT)
        spy.wait()
    await api.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--output-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="crew-hitl-profile-"))  # kept: the stack's logs
    print(f"stack logs in {workdir / 'logs'}", file=sys.stderr)
    stack, reference = start_stack(workdir)
    try:
        pids = {name: stack.processes[name].pid for name in ("temporal", "worker", "api")}
        targets = {name: args.output_dir / f"crew-hitl-{name}.stacks" for name in ("api", "worker")}
        port = stack.settings.api_port
        result = asyncio.run(load(port, args.runs, args.concurrency, pids, targets))
    finally:
        reference.terminate()
        stack.stop()
    rate = args.runs / result["seconds"]
    print(f"{args.runs} runs, {args.concurrency} in flight: {rate:.1f} runs/s")
    for name, seconds in result["cpu_seconds"].items():
        print(f"CPU per run, {name}: {seconds * 1000 / args.runs:.1f} ms")
    for name, stacks in targets.items():
        own, inclusive = top_functions(stacks, args.top)
        print(f"\n{name} ({stacks}): own samples")
        for function, percent in own:
            print(f"  {percent:5.1f} %  {function}")
        print(f"{name}: with callees")
        for function, percent in inclusive:
            print(f"  {percent:5.1f} %  {function}")


if __name__ == "__main__":
    main()
