"""One Temporal dev server, worker and API (real processes) for the whole session, and a
webhook receiver on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crew_hitl.outbound import LOOPBACK
from crew_hitl.settings import Settings
from runner.stack import Stack, on_free_ports

# Before the first import of support: its asserts explain a failure as a test's own do.
pytest.register_assert_rewrite("support")

from support import (  # noqa: E402
    MODEL_KEY,
    ROTATED_SECRET,
    TOKEN,
    WEBHOOK_SECRET,
    ModelServer,
    WebhookReceiver,
    api_client,
    crews_dir,
    let_workers_import_test_functions,
    start_model_server,
    start_receiver,
)


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    running = start_model_server()
    yield running
    running.server.shutdown()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, model_server: ModelServer) -> Settings:
    tmp = tmp_path_factory.mktemp("stack")
    crews = crews_dir(tmp)
    elsewhere = crews / "llm_elsewhere" / "agents.yaml"
    other_origin = model_server.base_url.replace("127.0.0.1", "localhost")
    elsewhere.write_text(elsewhere.read_text().replace("MODEL_SERVER_ELSEWHERE", other_origin))
    base = Settings(
        api_token=TOKEN,
        crews_dir=crews,
        webhook_retry_schedule="0.2,0.5,1,2",
        webhook_secret=f"{WEBHOOK_SECRET},{ROTATED_SECRET}",
        webhook_allow=LOOPBACK,  # every receiver of the tests is on this machine
        webhook_timeout=5,
        status_query_timeout=2,
        llm_base_url=model_server.base_url,
        llm_api_key=MODEL_KEY,
    )
    return on_free_ports(base, tmp / "data")


@pytest.fixture(scope="session")
def stack(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    let_workers_import_test_functions()
    # Where the CrewAI projects' tools leave their side effects (the worker inherits these).
    tools = tmp_path_factory.mktemp("tools")
    os.environ["CREW_NOTES_FILE"] = str(tools / "notes.md")
    os.environ["TRIP_TOOL_LOG"] = str(tools / "trip.log")
    running = Stack(settings, log_dir=tmp_path_factory.mktemp("logs"), throwaway=True)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def receiver() -> Iterator[WebhookReceiver]:
    running = start_receiver()
    yield running
    running.server.shutdown()


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with api_client(stack, TOKEN) as client:
        yield client


@pytest.fixture
def own_stack(
    settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """A stack of the test's own, to kill parts of without disturbing other tests.
    Parametrize indirectly with settings to change, and `temporal_args` for the dev server."""
    changes = dict(getattr(request, "param", {}))
    temporal_args = changes.pop("temporal_args", [])
    mine = on_free_ports(settings, tmp_path / "data").model_copy(update=changes)
    let_workers_import_test_functions()
    with Stack(
        mine, log_dir=tmp_path / "logs", temporal_args=temporal_args, throwaway=True
    ) as running:
        yield running
