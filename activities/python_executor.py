"""The python executor: `python:package.module:function`, called with the task's context
(`crew_hitl.TaskContext`) and returning a string or a pydantic model (sent on as JSON text).
Sync functions run in a thread, async ones on the worker's loop; both heartbeat."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeat_while
from crew_hitl.contracts.history import AgentStep, ExecuteTaskInput, TaskResult

# Sync user functions get threads of their own: on the loop's default pool, a few stuck ones
# would stall what shares it (aiohttp's name lookups for webhook deliveries among them). A
# thread cannot be stopped from outside: a function that never returns holds its thread after
# its round timed out and was retried.
USER_CODE = ThreadPoolExecutor(max_workers=8, thread_name_prefix="user-code")


def resolve(spec: str) -> Callable[..., Any]:
    """`python:package.module:function` → the function, or a final error saying why not."""
    _, module_name, function_name = spec.split(":", 2)
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, function_name)
    except Exception as err:
        raise ApplicationError(
            f"cannot load {module_name}:{function_name}: {last_line(err)}",
            type="PythonExecutorUnavailable",
            non_retryable=True,
        ) from None
    if not callable(function):
        raise ApplicationError(
            f"{module_name}:{function_name} is not callable",
            type="PythonExecutorUnavailable",
            non_retryable=True,
        )
    return function


def last_line(err: BaseException) -> str:
    return traceback.format_exception_only(type(err), err)[-1].strip()


def as_output(value: Any, spec: str) -> tuple[str, dict[str, Any] | None]:
    """The output as text, and as JSON when the function returned a pydantic model."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, BaseModel):
        return value.model_dump_json(), value.model_dump(mode="json")
    raise ApplicationError(
        f"{spec} returned {type(value).__name__}; return a str or a pydantic model",
        type="PythonExecutorUnavailable",
        non_retryable=True,
    )


async def run_python(spec: str, task_input: ExecuteTaskInput) -> TaskResult:
    function = resolve(spec)
    try:
        if inspect.iscoroutinefunction(function):
            value = await heartbeat_while(function(task_input))
        else:
            loop = asyncio.get_running_loop()
            call = loop.run_in_executor(USER_CODE, function, task_input)
            value = await heartbeat_while(call)
    except Exception as err:
        # Retried by the activity's policy; the last line reaches /status if it never works.
        raise ApplicationError(last_line(err), type=f"Python{type(err).__name__}") from err
    output, structured = as_output(value, spec)
    step = AgentStep(prompt=spec, thought=f"called {spec}", result=output)
    return TaskResult(output=output, steps=[step], output_json=structured)
