"""`make run`'s runner: starts all three processes, prints what a user needs, starts a worker
that dies again, stops them all on SIGTERM to its process group, and keeps the data across a
restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from runner.stack import free_port
from support import human_input_request, kickoff, resume, state_is, wait_status


def start_runner(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "runner"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while "Ctrl-C stops all three" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    token = next(line.split()[-1] for line in log.read_text().splitlines() if "API token" in line)
    return process, token


def stop_runner(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(30) == 0


def children_of(pid: int) -> list[str]:
    found = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return found.stdout.split()


def test_runner_starts_stops_and_keeps_data(tmp_path, receiver):
    ports = {name: free_port() for name in ("API", "TEMPORAL", "TEMPORAL_UI", "WORKER_METRICS")}
    env = dict(os.environ)
    env.pop("CREW_HITL_API_TOKEN", None)
    env.pop("CREW_HITL_TEMPORAL_ADDRESS", None)
    env.pop("CREW_HITL_WEBHOOK_ALLOW", None)
    env |= {
        "CREW_HITL_DATA_DIR": str(tmp_path / "data"),
        "CREW_HITL_API_PORT": str(ports["API"]),
        "CREW_HITL_TEMPORAL_PORT": str(ports["TEMPORAL"]),
        "CREW_HITL_TEMPORAL_UI_PORT": str(ports["TEMPORAL_UI"]),
        "CREW_HITL_WORKER_METRICS_PORT": str(ports["WORKER_METRICS"]),
        "CREW_HITL_CREWS_DIR": str(Path(__file__).resolve().parent.parent / "crews"),
    }
    process, token = start_runner(env, tmp_path / "first.log")
    text = (tmp_path / "first.log").read_text()
    assert f"http://127.0.0.1:{ports['API']}" in text
    assert f"http://127.0.0.1:{ports['TEMPORAL_UI']}" in text
    assert len(token) >= 20
    # A developer's receiver is on loopback: make run allows it, and says so.
    assert "webhooks      public addresses and 127.0.0.0/8,::1/128" in text
    assert (tmp_path / "data" / "temporal.db").exists()
    assert httpx.get(f"http://127.0.0.1:{ports['TEMPORAL_UI']}", timeout=5).status_code == 200
    worker_metrics = f"http://127.0.0.1:{ports['WORKER_METRICS']}/metrics"
    assert f"{worker_metrics} (worker)" in text
    assert "temporal_" in httpx.get(worker_metrics, timeout=5).text

    api = httpx.Client(
        base_url=f"http://127.0.0.1:{ports['API']}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    children = children_of(process.pid)
    assert len(children) == 3

    # A worker that dies under make run is started again; the rest stays up meanwhile.
    [worker] = [
        pid for pid in children if b"worker.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    os.kill(int(worker), signal.SIGKILL)
    assert resume(api, kickoff_id, "research_task", False, "Again").status_code == 200
    human_input_request(receiver, kickoff_id, 2, timeout=30)
    assert "worker exited with -9; starting it again" in (tmp_path / "first.log").read_text()
    children = children_of(process.pid)
    assert len(children) == 3 and worker not in children
    stop_runner(process)
    for child in children:
        assert not Path(f"/proc/{child}").exists(), f"process {child} outlived the runner"

    process, second_token = start_runner(env, tmp_path / "second.log")
    try:
        assert second_token == token
        status = wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))
        assert status["pending_human_input"]["round"] == 2
        assert resume(api, kickoff_id, "research_task", True).status_code == 200
        wait_status(api, kickoff_id, state_is("SUCCESS"))
    finally:
        stop_runner(process)
        api.close()
