"""Crew specs in CrewAI's YAML (agents.yaml, tasks.yaml) and placeholder interpolation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_MAX_REVIEW_ROUNDS = 10
KNOWN_EXECUTORS = ("offline", "llm", "python:package.module:function")
PYTHON_EXECUTOR = re.compile(r"^python:[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def known_executor(value: str | None) -> str | None:
    if value is None or value in ("offline", "llm") or PYTHON_EXECUTOR.match(value):
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

    _executor = field_validator("executor")(known_executor)


class CrewSpec(BaseModel):
    name: str
    agents: dict[str, AgentSpec]
    tasks: list[TaskSpec]

    def task(self, task_id: str) -> TaskSpec:
        for task in self.tasks:
            if task.name == task_id:
                return task
        raise KeyError(task_id)

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
        return CrewSpec(name=self.name, agents=agents, tasks=tasks)

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
    config = _config_dir(crew_dir)
    agents_raw = _read_yaml(config / "agents.yaml")
    tasks_raw = _read_yaml(config / "tasks.yaml")
    try:
        agents = {key: AgentSpec(name=key, **_stripped(val)) for key, val in agents_raw.items()}
        tasks = [TaskSpec(name=key, **_stripped(val)) for key, val in tasks_raw.items()]
    except (ValidationError, TypeError) as err:
        raise CrewLoadError(f"{config}: {err}") from err
    _check_references(config, agents, tasks)
    return CrewSpec(name=name, agents=agents, tasks=tasks)


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


class CrewRegistry(BaseModel):
    """Every crew found under the crews dir; a broken one is kept as an error, not fatal."""

    crews: dict[str, CrewSpec] = {}
    errors: dict[str, str] = {}

    @classmethod
    def load(cls, crews_dir: Path) -> CrewRegistry:
        registry = cls()
        if (crews_dir / "config" / "tasks.yaml").exists() or (crews_dir / "tasks.yaml").exists():
            candidates = [crews_dir]
        else:
            candidates = (
                sorted(p for p in crews_dir.iterdir() if p.is_dir()) if crews_dir.is_dir() else []
            )
        for crew_dir in candidates:
            name = crew_dir.name
            try:
                registry.crews[name] = load_crew(name, crew_dir)
            except CrewLoadError as err:
                registry.errors[name] = str(err)
        return registry
