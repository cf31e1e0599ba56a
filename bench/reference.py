"""The yardstick: the leanest program one would write with temporalio alone for the same job.

A workflow runs a task activity, posts a webhook from an httpx activity, waits for a `resume`
signal and loops on reject; on approval it posts a `crew_completed` webhook and ends (the end
of a run is a push for both systems, as a client of either would learn it). Worker settings
at their defaults; driven by direct client calls.
Run as `python bench/reference.py worker --address HOST:PORT --task-queue Q`.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import httpx

TASK_QUEUE = "reference"


@dataclass
class ReviewInput:
    topic: str
    webhook_url: str


@dataclass
class TaskInput:
    topic: str
    round: int
    feedback: list[str] = field(default_factory=list)


@dataclass
class WebhookInput:
    url: str
    body: dict


@dataclass
class Decision:
    is_approve: bool
    human_feedback: str = ""


@activity.defn
async def run_task(task: TaskInput) -> str:
    notes = "".join(f'\n{n}. "{text}"' for n, text in enumerate(task.feedback, start=1))
    return f"Research on {task.topic} (round {task.round}){notes}"


_http: httpx.AsyncClient | None = None


@activity.defn
async def post_webhook(hook: WebhookInput) -> None:
    global _http
    if _http is None:
        _http = httpx.AsyncClient()
    response = await _http.post(hook.url, json=hook.body)
    response.raise_for_status()


@workflow.defn
class ReviewWorkflow:
    def __init__(self) -> None:
        self._decision: Decision | None = None

    @workflow.signal
    def resume(self, decision: Decision) -> None:
        self._decision = decision

    @workflow.run
    async def run(self, review: ReviewInput) -> str:
        feedback: list[str] = []
        round_number = 1
        while True:
            output = await workflow.execute_activity(
                run_task,
                TaskInput(review.topic, round_number, list(feedback)),
                start_to_close_timeout=timedelta(minutes=5),
            )
            body = {
                "event": "human_input_requested",
                "execution_id": workflow.info().workflow_id,
                "round": round_number,
                "task_output": output,
            }
            await workflow.execute_activity(
                post_webhook,
                WebhookInput(review.webhook_url, body),
                start_to_close_timeout=timedelta(seconds=15),
            )
            await workflow.wait_condition(lambda: self._decision is not None)
            decision, self._decision = self._decision, None
            assert decision is not None
            if decision.is_approve:
                done = {
                    "event": "crew_completed",
                    "execution_id": workflow.info().workflow_id,
                    "result": output,
                }
                await workflow.execute_activity(
                    post_webhook,
                    WebhookInput(review.webhook_url, done),
                    start_to_close_timeout=timedelta(seconds=15),
                )
                return output
            feedback.append(decision.human_feedback)
            round_number += 1


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[ReviewWorkflow],
        activities=[run_task, post_webhook],
    )
    await worker.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["worker"])
    parser.add_argument("--address", default="localhost:7233")
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.task_queue))


if __name__ == "__main__":
    # Workflows must come from an importable module for the sandbox, not from __main__.
    import reference

    reference.main()
