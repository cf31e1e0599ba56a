"""Crew specs in CrewAI's YAML (agents.yaml, tasks.yaml) and placeholder interpolation."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from crew_hitl.projects import (
    EXTRA,
    CrewAIProject,
    ProjectError,
    crewai_installed,
    find_project,
    read_crew_class,
)
from crew_hitl.review_policy import ReviewPolicy

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_MAX_REVIEW_ROUNDS = 10
KNOWN_EXECUTORS = ("offline", "llm", "python:package.module:function", "crewai")
PYTHON_EXECUTOR = re.compile(r"^python:[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def known_executor(value: str | None) -> str | None:
    if value is None or value in ("offline", "llm", "crewai") or PYTHON_EXECUTOR.match(value):
        return value
    raise ValueError(f"unknown executor {value!r} (known: {', '.join(KNOWN_EXECUTORS)})")


class CrewLoadError(Exception):
    """A crew definition that cannot be used, with the file (and line) at fault."""


class AgentSpec(BaseModel):
    name: str
    role: str = ""
    goal: str = ""
    backstory: str = ""
    executor: str | None = None
    llm: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    base_url: str | None = None

    _executor = field_validator("executor")(known_executor)


def executor_for(task: TaskSpec, agent: AgentSpec) -> str:
    """The task's own executor, else its agent's; an agent naming a model uses `llm`."""
    return task.executor or agent.executor or ("llm" if agent.llm else "offline")


class TaskSpec(BaseModel):
    name: str
    description: str = ""
    expected_output: str = ""
    agent: str
    human_input: bool = False
    context: list[str] | None = None
    max_review_rounds: int = Field(default=DEFAULT_MAX_REVIEW_ROUNDS, ge=1)
    executor: str | None = None
    review: ReviewPolicy | None = None

    @model_validator(mode="after")
    def _review_needs_human_input(self) -> TaskSpec:
        if self.review is not None and not self.human_input:
            raise ValueError("review: a policy needs human_input: true")
        return self

    _executor = field_validator("executor")(known_executor)


class CrewSpec(BaseModel):
    name: str
    agents: dict[str, AgentSpec]
    tasks: list[TaskSpec]
    # "crewai": a CrewAI project's crew.py runs each task (its agents' executor is "crewai").
    kind: Literal["yaml", "crewai"] = "yaml"

    def task(self, task_id: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == task_id:
                return task
        raise KeyError(task_id)

    def unknown_task(self, task_id: str, waiting: str | None) -> str | None:
        """Why a decision on `task_id` cannot be, when the crew has no such task (the run's
        validator and the API's no-worker check say it alike), naming the tasks it has."""
        names = [task.name for task in self.tasks]
        if task_id in names:
            return None
        return (
            f"crew {self.name!r} has no task {task_id!r} (its tasks: {', '.join(names)}); "
            f"{waiting!r} is waiting for input"
        )

    def placeholders(self) -> list[str]:
        """Every {identifier} in the texts a run interpolates, in order of first appearance."""
        seen: dict[str, None] = {}
        for text in self._texts():
            for match in PLACEHOLDER.finditer(text):
                seen.setdefault(match.group(1), None)
        return list(seen)

    def missing_inputs(self, inputs: dict[str, Any]) -> list[str]:
        return [name for name in self.placeholders() if name not in inputs]

    def interpolated(self, inputs: dict[str, Any]) -> CrewSpec:
        """A copy with every known placeholder replaced by its input as text."""
        agents = {
            name: agent.model_copy(
                update={
                    "role": interpolate(agent.role, inputs),
                    "goal": interpolate(agent.goal, inputs),
                    "backstory": interpolate(agent.backstory, inputs),
                }
            )
            for name, agent in self.agents.items()
        }
        tasks = [
            task.model_copy(
                update={
                    "description": interpolate(task.description, inputs),
                    "expected_output": interpolate(task.expected_output, inputs),
                }
            )
            for task in self.tasks
        ]
        return self.model_copy(update={"agents": agents, "tasks": tasks})

    def _texts(self) -> list[str]:
        texts = [t for task in self.tasks for t in (task.description, task.expected_output)]
        for agent in self.agents.values():
            texts += [agent.role, agent.goal, agent.backstory]
        return texts


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def interpolate(text: str, inputs: dict[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return as_text(inputs[name]) if name in inputs else match.group(0)

    return PLACEHOLDER.sub(replace, text)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise CrewLoadError(f"{where}: {err.problem or err}") from err
    except (OSError, yaml.YAMLError) as err:
        raise CrewLoadError(f"{path}: {err}") from err
    if not isinstance(data, dict):
        raise CrewLoadError(f"{path}: expected a mapping of names to definitions")
    return data


def _config_dir(crew_dir: Path) -> Path:
    nested = crew_dir / "config"
    return nested if (nested / "tasks.yaml").exists() else crew_dir


def _stripped(definition: Any) -> dict[str, Any]:
    """YAML's folded scalars (`>`) end in a newline; CrewAI users expect plain text."""
    if definition is None:
        return {}
    if not isinstance(definition, dict):
        raise TypeError(f"expected a mapping of fields, got {type(definition).__name__}")
    return {k: v.strip() if isinstance(v, str) else v for k, v in definition.items()}


def load_crew(name: str, crew_dir: Path) -> CrewSpec:
    project = find_project(crew_dir)
    if project is not None:
        return load_project(name, project)
    config = _config_dir(crew_dir)
    agents, tasks = _definitions(config)
    _check_references(config, agents, tasks)
    return CrewSpec(name=name, agents=agents, tasks=tasks)


def load_project(name: str, project: CrewAIProject) -> CrewSpec:
    """A CrewAI project: its YAML as CrewAI reads it, tasks in the order of the class's @task
    methods (CrewAI's order for a sequential crew), every agent run by CrewAI itself."""
    try:
        crew_class = read_crew_class(project.crew_py)
    except ProjectError as err:
        raise CrewLoadError(str(err)) from None
    config = project.config_dir
    agents, tasks = _definitions(config)
    undefined = [task.name for task in tasks if task.name not in crew_class.tasks]
    if undefined:
        raise CrewLoadError(
            f"{project.crew_py}: tasks.yaml defines {', '.join(map(repr, undefined))}, which "
            f"class {crew_class.name} has no @task method for"
        )
    described = {task.name: task for task in tasks}
    undescribed = [name for name in crew_class.tasks if name not in described]
    if undescribed:
        raise CrewLoadError(
            f"{project.crew_py}: class {crew_class.name} defines @task "
            f"{', '.join(map(repr, undescribed))}, which tasks.yaml does not describe"
        )
    tasks = [described[name] for name in crew_class.tasks]
    agents = {key: agent.model_copy(update={"executor": "crewai"}) for key, agent in agents.items()}
    _check_references(config, agents, tasks)
    if not crewai_installed():
        raise CrewLoadError(f"{project.crew_py}: a CrewAI project needs the crewai extra ({EXTRA})")
    return CrewSpec(name=name, agents=agents, tasks=tasks, kind="crewai")


def _definitions(config: Path) -> tuple[dict[str, AgentSpec], list[TaskSpec]]:
    agents_raw = _read_yaml(config / "agents.yaml")
    tasks_raw = _read_yaml(config / "tasks.yaml")
    try:
        agents = {key: AgentSpec(name=key, **_stripped(val)) for key, val in agents_raw.items()}
    except (ValidationError, TypeError) as err:
        raise CrewLoadError(f"{config}: {err}") from err
    return agents, [_task(config, key, value) for key, value in tasks_raw.items()]


def problem(loc: tuple[int | str, ...], message: str) -> str:
    """One validation problem as `field: reason` (just the reason for the whole task)."""
    reason = message.removeprefix("Value error, ")
    return f"{'.'.join(map(str, loc))}: {reason}" if loc else reason


def _task(config: Path, name: str, definition: Any) -> TaskSpec:
    try:
        return TaskSpec(name=name, **_stripped(definition))
    except ValidationError as err:
        reasons = "; ".join(problem(e["loc"], e["msg"]) for e in err.errors())
        raise CrewLoadError(f"{config / 'tasks.yaml'}: task {name!r}: {reasons}") from err
    except TypeError as err:
        raise CrewLoadError(f"{config / 'tasks.yaml'}: task {name!r}: {err}") from err


def _check_references(config: Path, agents: dict[str, AgentSpec], tasks: list[TaskSpec]) -> None:
    if not tasks:
        raise CrewLoadError(f"{config / 'tasks.yaml'}: a crew needs at least one task")
    known: set[str] = set()
    for task in tasks:
        if task.agent not in agents:
            raise CrewLoadError(
                f"{config / 'tasks.yaml'}: task {task.name!r} names unknown agent {task.agent!r}"
            )
        for ref in task.context or []:
            if ref not in known:
                raise CrewLoadError(
                    f"{config / 'tasks.yaml'}: task {task.name!r} lists {ref!r} in its context, "
                    "which is not a task defined before it"
                )
        known.add(task.name)


@dataclass
class CrewRegistry:
    """Every crew found under the crews dir; a broken one is kept as an error, not fatal.
    `projects` holds where each CrewAI project's code is (for the worker)."""

    crews: dict[str, CrewSpec] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    projects: dict[str, CrewAIProject] = field(default_factory=dict)

    @classmethod
    def load(cls, crews_dir: Path) -> CrewRegistry:
        registry = cls()
        if is_crew_dir(crews_dir):
            candidates = [crews_dir]
        else:
            candidates = (
                sorted(p for p in crews_dir.iterdir() if p.is_dir() and p.name[0] not in "._")
                if crews_dir.is_dir()
                else []
            )
        for crew_dir in candidates:
            name = crew_dir.name
            try:
                registry.crews[name] = load_crew(name, crew_dir)
            except CrewLoadError as err:
                registry.errors[name] = str(err)
                continue
            if (project := find_project(crew_dir)) is not None:
                registry.projects[name] = project
        return registry


def is_crew_dir(path: Path) -> bool:
    """A crew itself rather than a folder of crews."""
    has_tasks = (path / "config" / "tasks.yaml").exists() or (path / "tasks.yaml").exists()
    return has_tasks or find_project(path) is not None
