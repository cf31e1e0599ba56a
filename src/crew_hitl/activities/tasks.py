"""The execute_task activity: runs one task through the executor its agent or task names."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from crew_hitl.activities.offline import run_offline
from crew_hitl.crew.messages import ExecuteTaskInput, TaskResult


def executor_name(task_input: ExecuteTaskInput) -> str:
    return task_input.task.executor or task_input.agent.executor


@activity.defn(name="execute_task")
async def execute_task(task_input: ExecuteTaskInput) -> TaskResult:
    name = executor_name(task_input)
    activity.logger.info(
        "executing task %s round %d with the %s executor",
        task_input.task.name,
        task_input.round,
        name,
    )
    if name == "offline":
        return run_offline(task_input)
    raise ApplicationError(
        f"unknown executor {name!r} for task {task_input.task.name!r}",
        type="UnknownExecutor",
        non_retryable=True,
    )
