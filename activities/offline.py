"""The offline executor: deterministic output from the task, its context and its feedback.

No model and no network: a reviewer sees the loop work, and every feedback is quoted verbatim
so tests (and people) can see it reached the task.
"""

from __future__ import annotations

from crew_hitl.contracts.history import AgentStep, ExecuteTaskInput, TaskResult
from crew_hitl.text import shortened


def build_prompt(task_input: ExecuteTaskInput) -> str:
    task, agent = task_input.task, task_input.agent
    lines = [
        f"You are {agent.role}.".strip(),
        f"Goal: {agent.goal}" if agent.goal else "",
        f"Task: {task.description}",
        f"Expected output: {task.expected_output}" if task.expected_output else "",
    ]
    for item in task_input.context:
        lines.append(f"Context from {item.task_id}:\n{item.output}")
    for note in task_input.notes:
        lines.append(f"Reviewer note: {note}")
    for number, feedback in enumerate(task_input.feedback, start=1):
        lines.append(f"Feedback {number}: {feedback}")
    return "\n\n".join(line for line in lines if line)


def run_offline(task_input: ExecuteTaskInput) -> TaskResult:
    task, agent = task_input.task, task_input.agent
    parts = [
        f"# {task.name} (round {task_input.round})",
        f"Agent: {agent.role or agent.name}",
        f"Task: {task.description.strip()}",
    ]
    if task.expected_output:
        parts.append(f"Expected output: {task.expected_output.strip()}")
    if task_input.context:
        parts.append("Built on:")
        parts += [f"- {item.task_id}: {first_line(item.output)}" for item in task_input.context]
    if task_input.notes:
        parts.append("Reviewer notes taken into account:")
        parts += [f'- "{note}"' for note in task_input.notes]
    if task_input.feedback:
        parts.append("Revised to address every feedback so far:")
        parts += [f'{n}. "{text}"' for n, text in enumerate(task_input.feedback, start=1)]
    output = "\n".join(parts)
    step = AgentStep(
        prompt=build_prompt(task_input),
        thought="offline executor: composed the output from the task, its context and feedback",
        result=output,
    )
    return TaskResult(output=output, steps=[step])


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return shortened(lines[0], 200) if lines else ""
