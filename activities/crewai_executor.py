"""The crewai executor: one task round of a CrewAI project, run by CrewAI itself — the user's
@CrewBase class builds its crew, and that one task executes with its own agent (model,
function calling, tools, the agent's retries). Our workflow decides the order and hands over
the context: earlier outputs, reviewer notes and, after a rejection, the previous output and
every feedback verbatim. CrewAI's console prompt for human input never runs here.

CrewAI is synchronous and refuses to run inside an event loop, so a round runs in a thread of
its own pool while the activity heartbeats. What CrewAI reports (model answers, tool calls,
token usage) comes from its event bus, routed to the round that caused it by a ContextVar
(the bus runs handlers in a copy of the emitting thread's context). Running one task alone
uses a few CrewAI internals; the extra pins CrewAI's minor version for that reason."""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import importlib.util
import json
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeat_while
from activities.metrics import MODEL_FAILED, MODEL_OK, ActivityMetrics
from activities.python_executor import last_line
from crew_hitl.contracts.history import AgentStep, ExecuteTaskInput, TaskResult
from crew_hitl.contracts.status import TokenUsage
from crew_hitl.projects import CrewAIProject
from crew_hitl.settings import Settings

log = logging.getLogger("crew_hitl.crewai")
# Set before CrewAI is first imported: no telemetry, tracking or cloud tracing from a worker.
QUIET = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
}
REFUSING_STATUSES = {400, 401, 403, 404, 422}
REVISE = (
    "A reviewer rejected your previous output. Revise it so that it addresses every piece of "
    "feedback above, and answer with the complete revised output."
)
RECORDER: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "crewai_round", default=None
)


def prepare_environment(settings: Settings) -> None:
    """The worker's environment as CrewAI reads it: the model endpoint and key from our
    settings (OPENAI_* stay as they are when ours are unset), CrewAI's storage in the data dir,
    and nothing sent to CrewAI's servers."""
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    # Every model call warns that it estimates the prompt's tokens: once is news, not each time.
    logging.getLogger("crewai.llms.base_llm").setLevel(logging.ERROR)
    if settings.llm_base_url:
        os.environ["OPENAI_BASE_URL"] = settings.llm_base_url
    if settings.llm_api_key:
        os.environ["OPENAI_API_KEY"] = settings.llm_api_key
    storage = (settings.data_dir / "crewai").resolve()
    os.environ.setdefault("CREWAI_STORAGE_DIR", str(storage))
    # CrewAI writes under ~/.config and ~/.local/share on import; a container user may have no
    # writable home.
    home = Path(os.environ.get("HOME") or "/nonexistent")
    if not os.access(home, os.W_OK):
        (storage / "home").mkdir(parents=True, exist_ok=True)
        os.environ["HOME"] = str(storage / "home")


def task_context(task_input: ExecuteTaskInput) -> str:
    """What the agent is told beyond its task: the text CrewAI appends as the context."""
    parts = [f"Output of {item.task_id}:\n{item.output}" for item in task_input.context]
    parts += [f"Reviewer note on earlier work: {note}" for note in task_input.notes]
    if task_input.previous_output is not None and task_input.feedback:
        parts.append(f"Your previous output:\n{task_input.previous_output}")
        parts += [
            f"Reviewer feedback {number}:\n{text}"
            for number, text in enumerate(task_input.feedback, start=1)
        ]
        parts.append(REVISE)
    return "\n\n".join(parts)


@dataclass
class Recorder:
    """What CrewAI's event bus reported for one round, in the order it happened."""

    task_id: str
    metrics: ActivityMetrics | None = None
    events: list[tuple[int, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls_started: dict[str, datetime] = field(default_factory=dict)

    def add(self, kind: str, event: Any) -> None:
        if kind.startswith("model"):
            self.count_model_call(kind, event)
            if kind != "model":
                return
        with self.lock:
            self.events.append((getattr(event, "emission_sequence", 0) or 0, kind, event))

    def count_model_call(self, kind: str, event: Any) -> None:
        """Every model call of the round, timed from CrewAI's started event to its end."""
        with self.lock:
            if kind == "model_started":
                self.calls_started[event.call_id] = event.timestamp
                return
            started = self.calls_started.pop(event.call_id, event.timestamp)
        if self.metrics is None:
            return
        seconds = max(0.0, (event.timestamp - started).total_seconds())
        if kind == "model":
            usage = TokenUsage.model_validate(getattr(event, "usage", None) or {})
            self.metrics.model_call(event.model, MODEL_OK, seconds, usage)
        else:
            self.metrics.model_call(event.model, MODEL_FAILED, seconds)

    def steps(self) -> list[AgentStep]:
        ordered = sorted(self.events, key=lambda item: item[0])
        return [step for _, kind, event in ordered if (step := as_step(kind, event))]

    def usage(self) -> TokenUsage:
        total = TokenUsage()
        for _, kind, event in self.events:
            if kind == "model":
                total = total + TokenUsage.model_validate(getattr(event, "usage", None) or {})
        return total


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def as_step(kind: str, event: Any) -> AgentStep | None:
    if kind in ("tool", "tool_error"):
        failed = kind == "tool_error"
        return AgentStep(
            kind=kind,
            thought=f"{event.tool_name} failed" if failed else f"used {event.tool_name}",
            tool=event.tool_name,
            tool_input=as_text(event.tool_args),
            result=as_text(event.error if failed else event.output),
        )
    response = event.response
    if isinstance(response, list):  # the model asked for tool calls
        names = [call.get("function", {}).get("name", "?") for call in response]
        return AgentStep(kind="llm", thought=f"{event.model} called {', '.join(names)}")
    return AgentStep(kind="llm", thought=f"{event.model} answered", result=as_text(response))


_handlers_installed = False
_handlers_lock = threading.Lock()


def install_handlers() -> None:
    """Once per process: the bus's handlers hand each event to the round that caused it."""
    global _handlers_installed
    with _handlers_lock:
        if _handlers_installed:
            return
        from crewai.events import crewai_event_bus
        from crewai.events.types.llm_events import (
            LLMCallCompletedEvent,
            LLMCallFailedEvent,
            LLMCallStartedEvent,
        )
        from crewai.events.types.tool_usage_events import (
            ToolUsageErrorEvent,
            ToolUsageFinishedEvent,
        )

        def route(kind: str) -> Any:
            def handler(_source: Any, event: Any) -> None:
                recorder = RECORDER.get()
                if recorder is not None and event.task_id in (None, recorder.task_id):
                    recorder.add(kind, event)

            return handler

        for event_type, kind in (
            (ToolUsageFinishedEvent, "tool"),
            (ToolUsageErrorEvent, "tool_error"),
            (LLMCallCompletedEvent, "model"),
            (LLMCallStartedEvent, "model_started"),
            (LLMCallFailedEvent, "model_failed"),
        ):
            crewai_event_bus.on(event_type)(route(kind))
        _handlers_installed = True


def forget_instance(instance: Any) -> None:
    """CrewAI memoizes @agent/@task results per instance id in a process-wide cache it never
    clears; a later instance with a reused id would get this one's objects."""
    try:
        from crewai.project.utils import cache

        marker = f"('__instance__', {id(instance)})"
        with cache._lock.w_locked():
            for key in [key for key in cache._cache if marker in key]:
                del cache._cache[key]
    except (ImportError, AttributeError):
        log.warning("could not clear CrewAI's memo cache (a CrewAI version this was not made for)")


def load_class(project: CrewAIProject) -> type:
    """The project's @CrewBase class. Its module is registered before it runs: CrewBase finds
    config/ from the class's file."""
    if project.package is not None:
        root = str(project.import_root)
        if root not in sys.path:
            sys.path.insert(0, root)
        module = importlib.import_module(f"{project.package}.crew")
    else:
        name = f"crew_hitl_projects.{project.crew_py.parent.name}"
        module = sys.modules.get(name)
        if module is None:
            folder = str(project.crew_py.parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)  # the project's own `from tools.x import y`
            spec = importlib.util.spec_from_file_location(name, project.crew_py)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and getattr(value, "is_crew_class", False)
        and value.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise TypeError(f"expected one @CrewBase class, found {len(classes)}")
    return classes[0]


def execute(
    crew_class: type,
    task_name: str,
    context: str,
    inputs: dict[str, Any],
    metrics: ActivityMetrics | None = None,
) -> TaskResult:
    """One task of the crew, by its own agent, with our context; no console prompt."""
    install_handlers()
    from crewai.crews.utils import setup_agents
    from crewai.events import crewai_event_bus

    instance = crew_class()
    try:
        crew = instance.crew()
        task = getattr(instance, task_name)()
        agent = task.agent
        for callback in crew.before_kickoff_callbacks:
            inputs = callback(inputs) or inputs
        crew._inputs = inputs
        crew._interpolate_inputs(inputs)
        crew._set_tasks_callbacks()
        task.human_input = False  # the review is ours: the workflow pauses, not the console
        setup_agents(crew, [agent], crew.embedder, crew.function_calling_llm, crew.step_callback)
        recorder = Recorder(task_id=str(task.id), metrics=metrics)
        token = RECORDER.set(recorder)
        try:
            output = task.execute_sync(agent=agent, context=context)
        finally:
            RECORDER.reset(token)
            crewai_event_bus.flush(timeout=10)
        structured = output.json_dict or (output.pydantic.model_dump() if output.pydantic else None)
        return TaskResult(
            output=output.raw,
            steps=recorder.steps(),
            token_usage=recorder.usage(),
            output_json=structured,
            agent_role=str(agent.role).strip(),
        )
    finally:
        forget_instance(instance)


def without_key(text: str, api_key: str) -> str:
    """Some endpoints echo the key in what they answer; it must not reach history."""
    return text.replace(api_key, "[key]") if api_key else text


def refusal(err: BaseException, api_key: str) -> ApplicationError | None:
    """A model endpoint that refuses (401, 403, ...) is final: CrewAI already retried it."""
    status = getattr(err, "status_code", None)
    if status not in REFUSING_STATUSES:
        return None
    said = without_key(str(getattr(err, "message", "") or err).strip()[:300], api_key)
    return ApplicationError(
        f"the model endpoint answered HTTP {status}: {said}",
        type="ModelRefused",
        non_retryable=True,
    )


class CrewAIExecutor:
    def __init__(
        self,
        projects: dict[str, CrewAIProject],
        settings: Settings,
        metrics: ActivityMetrics | None = None,
        threads: int = 4,
    ):
        self._projects = projects
        self._metrics = metrics
        self._api_key = settings.llm_api_key or os.environ.get("OPENAI_API_KEY", "")
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="crewai")
        self._classes: dict[str, type] = {}
        self._lock = threading.Lock()

    def _crew_class(self, crew_name: str) -> type:
        with self._lock:
            if crew_name not in self._classes:
                # A worker without the crewai extra never gets here: its registry refuses the
                # crew, naming the extra, and check_declared says so.
                project = self._projects[crew_name]
                try:
                    self._classes[crew_name] = load_class(project)
                except Exception as err:
                    raise ApplicationError(
                        f"cannot load {project.crew_py}: {last_line(err)}",
                        type="CrewUnavailable",
                        non_retryable=True,
                    ) from None
            return self._classes[crew_name]

    def _round(self, task_input: ExecuteTaskInput) -> TaskResult:
        crew_class = self._crew_class(task_input.crew_name)
        context = task_context(task_input)
        try:
            inputs = dict(task_input.inputs)
            return execute(crew_class, task_input.task.name, context, inputs, self._metrics)
        except Exception as err:
            refused = refusal(err, self._api_key)
            if refused is not None:
                raise refused from None
            # Retried by the activity's policy; the last line reaches /status if it never works.
            message = without_key(last_line(err), self._api_key)
            raise ApplicationError(message, type=f"CrewAI{type(err).__name__}") from None

    async def run(self, task_input: ExecuteTaskInput) -> TaskResult:
        loop = asyncio.get_running_loop()
        return await heartbeat_while(loop.run_in_executor(self._pool, self._round, task_input))
