"""One driver per system: the same four moves — kickoff, reject, approve, wait for the end."""

from __future__ import annotations

import time
import uuid

from temporalio.client import Client

from http_client import LeanClient
from receiver import Receiver
from reference import Decision, ReviewInput, ReviewWorkflow


class ReferenceDriver:
    name = "reference"

    def __init__(self, client: Client, webhook_url: str, task_queue: str) -> None:
        self._client = client
        self._webhook_url = webhook_url
        self._task_queue = task_queue

    async def kickoff(self) -> str:
        run_id = f"ref-{uuid.uuid4()}"
        await self._client.start_workflow(
            ReviewWorkflow.run,
            ReviewInput(topic="AI Research", webhook_url=self._webhook_url),
            id=run_id,
            task_queue=self._task_queue,
        )
        return run_id

    async def resume(self, run_id: str, approve: bool, feedback: str) -> None:
        handle = self._client.get_workflow_handle(run_id)
        await handle.signal(ReviewWorkflow.resume, Decision(approve, feedback))


class CrewHitlDriver:
    name = "crew-hitl"

    def __init__(self, api: LeanClient, webhook_url: str) -> None:
        self._api = api
        self._webhook_url = webhook_url

    async def kickoff(self) -> str:
        body = {
            "inputs": {"topic": "AI Research"},
            "crew": "review",
            "crewWebhookUrl": self._webhook_url,
            "humanInputWebhook": {
                "url": self._webhook_url,
                "authentication": {"strategy": "bearer", "token": "bench-hook"},
            },
        }
        return (await self._api.post("/kickoff", body))["kickoff_id"]

    async def resume(self, run_id: str, approve: bool, feedback: str) -> None:
        body = {
            "execution_id": run_id,
            "task_id": "draft_task",
            "is_approve": approve,
            "human_feedback": feedback,
        }
        await self._api.post("/resume", body)


async def full_run(driver: ReferenceDriver | CrewHitlDriver, receiver: Receiver) -> float:
    """One run through: kickoff, a rejection, an approval, the end (its webhook); how long
    the kickoff took to bring the first webhook."""
    start = time.monotonic()
    run_id = await driver.kickoff()
    first = await receiver.wait(run_id, 1, timeout=300) - start
    await driver.resume(run_id, False, "Add sources")
    await receiver.wait(run_id, 2, timeout=300)
    await driver.resume(run_id, True, "ok")
    await receiver.wait_done(run_id)
    return first
