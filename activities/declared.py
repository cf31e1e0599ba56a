"""The worker runs only what the crews it loaded itself declare. A run's input carries its crew
frozen at kickoff (so editing YAML never changes a run), but anyone who can start a workflow on
the task queue can write that input: the executor, the Python function and the model endpoint
it names must be the ones this worker's own crew of that name declares for that task."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from crew_hitl.contracts.history import ExecuteTaskInput
from crew_hitl.spec import CrewRegistry, executor_for


def not_declared(message: str) -> ApplicationError:
    return ApplicationError(message, type="NotDeclared", non_retryable=True)


def check_declared(task_input: ExecuteTaskInput, crews: CrewRegistry) -> None:
    name = task_input.crew_name
    crew = crews.crews.get(name)
    if crew is None:
        why = f" ({crews.errors[name]})" if name in crews.errors else ""
        raise not_declared(f"crew {name!r} is not one this worker loaded{why}")
    asked_task, asked_agent = task_input.task, task_input.agent
    try:
        task = crew.task(asked_task.name)
    except KeyError:
        raise not_declared(f"crew {name!r} has no task {asked_task.name!r}") from None
    agent = crew.agents.get(task.agent)
    if agent is None or asked_agent.name != agent.name:
        raise not_declared(
            f"task {task.name!r} of crew {name!r} is not done by {asked_agent.name!r}"
        )
    asked, declared = executor_for(asked_task, asked_agent), executor_for(task, agent)
    if asked != declared:
        raise not_declared(
            f"the run names executor {asked!r} for task {task.name!r}; crew {name!r} declares "
            f"{declared!r}"
        )
    if asked == "llm" and (asked_agent.base_url or None) != (agent.base_url or None):
        raise not_declared(
            f"the run names model endpoint {asked_agent.base_url!r} for agent {agent.name!r}; "
            f"crew {name!r} declares {agent.base_url or 'the configured endpoint'!r}"
        )
