"""Trust boundaries of the API: it acts on crew runs only."""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowExecutionStatus


def test_another_applications_workflow_is_not_ours_to_show_or_stop(stack, api):
    """A token acts on CrewRunWorkflow runs only: any other workflow in the namespace is a 404
    for /status, /events, /resume and /stop, and stays running."""
    workflow_id = "billing-nightly-7f3a"

    async def start() -> Client:
        client = await Client.connect(stack.settings.temporal_address)
        await client.start_workflow(
            "NightlyBilling", id=workflow_id, task_queue="billing-elsewhere"
        )
        return client

    client = asyncio.run(start())
    assert api.get(f"/status/{workflow_id}").status_code == 404
    assert api.get(f"/events/{workflow_id}").status_code == 404
    decision = {"execution_id": workflow_id, "task_id": "t", "is_approve": True}
    assert api.post("/resume", json=decision).status_code == 404
    assert api.post(f"/stop/{workflow_id}").status_code == 404

    async def still_running() -> WorkflowExecutionStatus | None:
        described = await client.get_workflow_handle(workflow_id).describe()
        await client.get_workflow_handle(workflow_id).terminate("test done")
        return described.status

    assert asyncio.run(still_running()) == WorkflowExecutionStatus.RUNNING
