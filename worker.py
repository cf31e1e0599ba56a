"""The worker: CrewRunWorkflow and its activities on the crew-runs task queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator

import aiohttp
import httpx
from prometheus_client import CollectorRegistry
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.crewai_executor import prepare_environment
from activities.email import EmailActivities
from activities.metrics import ActivityMetrics
from activities.outbound import guarded_session
from activities.senders import identify_sender
from activities.signing import parse_secrets
from activities.tasks import TaskActivities
from activities.webhooks import WebhookActivities
from crew_hitl.logs import configure_logging
from crew_hitl.metrics_endpoint import MetricsEndpoint
from crew_hitl.sdk_metrics import SdkMetrics
from crew_hitl.secrets import SecretBox, load_or_create_key
from crew_hitl.settings import Settings
from crew_hitl.spec import CrewRegistry
from crew_hitl.tracing import WORKER_SERVICE, Tracing, start_tracing
from workflows.crew_run import CrewRunWorkflow

log = logging.getLogger("crew_hitl.worker")


async def connect(
    settings: Settings, runtime: Runtime | None = None, tracing: Tracing | None = None
) -> Client:
    """The worker's client; with `tracing`, its interceptor traces the workflows and
    activities this client's workers run."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
        interceptors=tracing.temporal_interceptors() if tracing else [],
    )


# The sandbox's checks are the tests' job: every workflow test and every replayed history runs
# in STRICT_WORKFLOW_RUNNER, where only the vocabulary is passed through and a clock,
# randomness or I/O call in workflow code fails the test. The workflow is this project's code
# only (a crew's code runs in activities), so the worker runs it outside the sandbox by
# default: the SDK runs every activation, and every payload of every command, through `exec`
# in the sandbox (a fifth of the worker's profile; worker CPU per run 49-54 -> 41 ms, bench
# throughput 0.98-1.07 -> 1.19 of the reference). CREW_HITL_WORKFLOW_SANDBOX=true keeps it,
# with our modules imported once per worker instead of once per workflow instance (the
# re-import was once the largest cost of a workflow task: throughput 0.88 -> 1.08). Tracing
# needs nothing more passed through: the interceptor's workflow side is temporalio's own and
# makes its spans through the worker (tests/test_tracing.py runs it in both runners).
OUR_MODULES = ("crew_hitl", "workflows", "activities")
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*OUR_MODULES)
)
STRICT_WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("crew_hitl")
)
# Polls for workflow tasks, half of them on the task queue every new run and every run the
# worker no longer holds starts from (the SDK's default, 5 with a fifth of them there, kept
# new runs waiting under load: kickoff -> first webhook p50 with 50 in flight went from
# 1.01 to 0.82 of the reference's, throughput 1.19 -> 1.16, within the bench's noise).
WORKFLOW_TASK_POLLS = 10
NEW_RUN_POLL_SHARE = 0.5


def workflow_runner(settings: Settings) -> WorkflowRunner:
    return WORKFLOW_RUNNER if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


def in_sandbox(worker: Worker) -> bool:
    """Whether the worker runs its workflows in the sandbox (its start line says so)."""
    return isinstance(worker.config().get("workflow_runner"), SandboxedWorkflowRunner)


def build_worker(
    client: Client,
    settings: Settings,
    http: aiohttp.ClientSession,
    models: httpx.AsyncClient,
    metrics: ActivityMetrics,
) -> Worker:
    box = SecretBox(load_or_create_key(settings.secret_key, settings.data_dir))
    policy = settings.webhook_policy()
    keys = parse_secrets(settings.webhook_secret)
    webhooks = WebhookActivities(box, http, keys, policy, metrics)
    tasks = TaskActivities(settings, models, load_crews(settings), metrics)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[CrewRunWorkflow],
        workflow_runner=workflow_runner(settings),
        max_concurrent_workflow_task_polls=WORKFLOW_TASK_POLLS,
        nonsticky_to_sticky_poll_ratio=NEW_RUN_POLL_SHARE,
        activities=[
            tasks.execute_task,
            webhooks.deliver_webhook,
            identify_sender,
            EmailActivities(settings).send_review_email,
        ],
    )


def load_crews(settings: Settings) -> CrewRegistry:
    """The crews this worker will run code for (YAML and source only: CrewAI itself is
    imported when a run first needs a CrewAI project)."""
    crews = CrewRegistry.load(settings.crews_dir)
    for name, error in crews.errors.items():
        log.error("crew %s not loaded: %s", name, error)
    if crews.projects:
        prepare_environment(settings)
        log.info("CrewAI projects: %s", ", ".join(sorted(crews.projects)))
    return crews


@contextlib.asynccontextmanager
async def metrics_served(settings: Settings) -> AsyncIterator[tuple[ActivityMetrics, Runtime]]:
    """One registry for the activities' metrics and the SDK's (its runtime records into it),
    served on CREW_HITL_WORKER_METRICS_HOST:PORT."""
    registry = CollectorRegistry()
    sdk = SdkMetrics(registry)
    endpoint = MetricsEndpoint(registry, sdk, settings.metrics_token)
    async with endpoint.served(settings.worker_metrics_host, settings.worker_metrics_port):
        yield ActivityMetrics.create(registry), sdk.runtime


async def serve(settings: Settings, tracing: Tracing | None = None) -> None:
    async with contextlib.AsyncExitStack() as stack:
        metrics, runtime = ActivityMetrics.create(), None
        if settings.worker_metrics_port:
            metrics, runtime = await stack.enter_async_context(metrics_served(settings))
        await poll(settings, await connect(settings, runtime, tracing), metrics)


async def poll(settings: Settings, client: Client, metrics: ActivityMetrics) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    policy = settings.webhook_policy()
    async with guarded_session(policy) as http, httpx.AsyncClient() as models:
        worker = build_worker(client, settings, http, models, metrics)
        async with worker:
            log.info(
                "worker polling task queue %r at %s (workflow %s Temporal's sandbox)",
                settings.task_queue,
                settings.temporal_address,
                "in" if in_sandbox(worker) else "outside",
            )
            await stop.wait()
            log.info("worker shutting down")


def main() -> None:
    settings = Settings.from_env()
    # The model key may come back in what an endpoint answers, which libraries log.
    configure_logging(
        settings.log_level,
        [
            *settings.model_keys().values(),
            os.environ.get("OPENAI_API_KEY", ""),
            settings.smtp_password,
        ],
    )
    tracing = start_tracing(WORKER_SERVICE)
    try:
        asyncio.run(serve(settings, tracing))
    finally:
        if tracing is not None:
            tracing.shutdown()


if __name__ == "__main__":
    main()
