"""`make run`: the embedded Temporal dev server, the worker and the API, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType

from crew_hitl.logs import configure_logging
from crew_hitl.outbound import LOOPBACK
from crew_hitl.settings import Settings
from runner.stack import Stack, ensure_token
from runner.supervisor import Supervisor, TemporalExited


class Stop(Exception):
    pass


def raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


def with_dev_defaults(settings: Settings) -> Settings:
    """The dev server on its own port, and webhooks allowed to loopback, unless set."""
    changes: dict[str, str] = {}
    if "CREW_HITL_TEMPORAL_ADDRESS" not in os.environ:
        changes["temporal_address"] = f"127.0.0.1:{settings.temporal_port}"
    if "CREW_HITL_WEBHOOK_ALLOW" not in os.environ and not settings.webhook_only:
        changes["webhook_allow"] = LOOPBACK
    return settings.model_copy(update=changes)


def webhook_line(settings: Settings) -> str:
    if settings.webhook_only:
        return f"only to {settings.webhook_only} (CREW_HITL_WEBHOOK_ONLY)"
    if not settings.webhook_allow:
        return "public addresses only"
    return f"public addresses and {settings.webhook_allow} (CREW_HITL_WEBHOOK_ALLOW)"


def worker_metrics_line(settings: Settings) -> str:
    if settings.worker_metrics_url is None:
        return "none from the worker (CREW_HITL_WORKER_METRICS_PORT=0)"
    return f"{settings.worker_metrics_url} (worker)"


def banner(settings: Settings) -> str:
    return "\n".join(
        [
            "",
            "crew-hitl is running",
            f"  API           {settings.api_url}",
            f"  metrics       {settings.api_url}/metrics (API), {worker_metrics_line(settings)}",
            f"  Temporal UI   http://127.0.0.1:{settings.temporal_ui_port}",
            f"  Temporal      {settings.temporal_address}",
            f"  API token     {settings.api_token}",
            f"  data          {settings.data_dir.resolve()}",
            f"  webhooks      {webhook_line(settings)}",
            "A worker or API that crashes is started again; Ctrl-C stops all three.",
            "",
        ]
    )


def main() -> int:
    settings = with_dev_defaults(ensure_token(Settings.from_env()))
    configure_logging(settings.log_level)
    stack = Stack(settings)
    signal.signal(signal.SIGTERM, raise_stop)
    signal.signal(signal.SIGINT, raise_stop)
    code = 0
    try:
        stack.start()
        print(banner(settings), flush=True)
        supervisor = Supervisor(stack)
        while True:
            supervisor.check()
            time.sleep(0.5)
    except Stop as stop:
        print(f"crew-hitl: {stop} received; stopping", flush=True)
    except TemporalExited as err:
        print(f"crew-hitl: {err}; stopping", file=sys.stderr)
        code = 1
    except RuntimeError as err:
        print(f"crew-hitl: {err}; stopping", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
