"""The execute_task activity: runs one task round through the executor its task or agent
names (offline, llm, python:package.module:function, or crewai for a CrewAI project), after
checking that this worker's own crews declare it."""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.crewai_executor import CrewAIExecutor
from activities.declared import check_declared
from activities.llm import run_llm
from activities.metrics import ActivityMetrics
from activities.offline import run_offline
from activities.python_executor import run_python
from crew_hitl.contracts.history import ExecuteTaskInput, TaskResult
from crew_hitl.settings import Settings
from crew_hitl.spec import CrewRegistry, executor_for

# Error types a retry cannot mend.
FINAL_ERRORS = [
    "UnknownExecutor",
    "ModelRefused",
    "OutputTooLarge",
    "PythonExecutorUnavailable",
    "NotDeclared",
    "CrewUnavailable",
]


class TaskActivities:
    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        crews: CrewRegistry,
        metrics: ActivityMetrics | None = None,
    ) -> None:
        self._metrics = metrics or ActivityMetrics.create()
        self._crews = crews
        self._crewai = CrewAIExecutor(crews.projects, settings, self._metrics)
        self._base_url, _ = settings.model_endpoint()
        self._model_keys = settings.model_keys()
        self._timeout = settings.llm_timeout
        self._max_output = settings.max_output_bytes
        self._http = http

    @activity.defn(name="execute_task")
    async def execute_task(self, task_input: ExecuteTaskInput) -> TaskResult:
        result = await self._run(task_input)
        size = len(result.output.encode())
        if size > self._max_output:
            raise ApplicationError(
                f"task {task_input.task.name!r} produced {size / 1024:.0f} KiB of output, more "
                f"than CREW_HITL_MAX_OUTPUT_BYTES ({self._max_output / 1024:.0f} KiB)",
                type="OutputTooLarge",
                non_retryable=True,
            )
        return result

    async def _run(self, task_input: ExecuteTaskInput) -> TaskResult:
        check_declared(task_input, self._crews)
        name = executor_for(task_input.task, task_input.agent)
        activity.logger.info(
            "executing task %s round %d with the %s executor",
            task_input.task.name,
            task_input.round,
            name,
        )
        if name == "offline":
            return run_offline(task_input)
        if name == "llm":
            return await run_llm(
                task_input,
                self._http,
                self._base_url,
                self._model_keys,
                self._timeout,
                self._metrics,
            )
        if name.startswith("python:"):
            return await run_python(name, task_input)
        if name == "crewai":
            return await self._crewai.run(task_input)
        raise ApplicationError(
            f"unknown executor {name!r} for task {task_input.task.name!r}",
            type="UnknownExecutor",
            non_retryable=True,
        )
