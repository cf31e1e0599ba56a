"""CrewAI projects in the crews dir, found and checked without importing CrewAI: a folder with
`crew.py` (one class decorated with `@CrewBase`) and `config/agents.yaml` + `config/tasks.yaml`
beside it, or the layout `crewai create crew` makes (`src/<package>/crew.py` and its config/).
The worker imports the class when a run needs it (activities/crewai_executor.py); the API
never does."""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

EXTRA = "pip install 'crew-hitl[crewai]'"


class ProjectError(Exception):
    """A crew.py that cannot serve as a crew, with the file and the reason."""


@dataclass(frozen=True)
class CrewAIProject:
    """Where a project's code lives: `crew_py` is the file with the @CrewBase class; `package`
    is set for the src/<package> layout (its crew.py is imported as `<package>.crew`, with
    `import_root` on sys.path, so the project's own absolute imports work)."""

    crew_py: Path
    import_root: Path
    package: str | None = None

    @property
    def config_dir(self) -> Path:
        return self.crew_py.parent / "config"


@dataclass(frozen=True)
class CrewClass:
    """What crew.py declares, read from its source: the class and its @task and @agent
    methods in definition order (CrewAI's own task order for a sequential crew)."""

    name: str
    tasks: tuple[str, ...]
    agents: tuple[str, ...]


def find_project(crew_dir: Path) -> CrewAIProject | None:
    crew_dir = crew_dir.resolve()
    flat = crew_dir / "crew.py"
    if flat.is_file():
        return CrewAIProject(crew_py=flat, import_root=crew_dir)
    src = crew_dir / "src"
    if src.is_dir():
        for package in sorted(p for p in src.iterdir() if (p / "crew.py").is_file()):
            return CrewAIProject(crew_py=package / "crew.py", import_root=src, package=package.name)
    return None


def crewai_installed() -> bool:
    return importlib.util.find_spec("crewai") is not None


def decorator_name(node: ast.expr) -> str:
    """`CrewBase`, `task` for `@CrewBase`, `@crewai.project.task`, `@task()`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def read_crew_class(crew_py: Path) -> CrewClass:
    try:
        tree = ast.parse(crew_py.read_text(encoding="utf-8"), filename=str(crew_py))
    except (OSError, SyntaxError, ValueError) as err:
        raise ProjectError(f"{crew_py}: cannot be read as Python: {err}") from None
    classes = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(decorator_name(d) == "CrewBase" for d in node.decorator_list)
    ]
    if len(classes) != 1:
        found = "no class" if not classes else f"{len(classes)} classes"
        raise ProjectError(f"{crew_py}: expected one class decorated with @CrewBase, found {found}")
    [cls] = classes

    def methods(kind: str) -> tuple[str, ...]:
        return tuple(
            node.name
            for node in cls.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and any(decorator_name(d) == kind for d in node.decorator_list)
        )

    return CrewClass(name=cls.name, tasks=methods("task"), agents=methods("agent"))
