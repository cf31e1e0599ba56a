"""What the Temporal Web UI shows as a run's current details (markdown): its state, the
task and round waiting for input with an excerpt, and the exact commands that decide it."""

from __future__ import annotations

import json
import re
import shlex

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from crew_hitl.contracts.status import PendingHumanInput, RunState
    from crew_hitl.text import excerpt

from workflows.record import RunRecord

MARKDOWN_SPECIALS = re.compile(r"[\\`*_{}\[\]()<>#+!|~-]")


def current_details(record: RunRecord, resume_url: str) -> str:
    lines = [f"**Run:** {markdown_text(record.summary)}", f"**State:** {record.state.value}"]
    pending = record.pending
    if pending is not None:
        lines += [
            f"**Waiting for:** `{pending.task_id}` round {pending.round}",
            f"**Output:** {markdown_text(excerpt(pending.output, 200))}",
            *decision_commands(record.kickoff_id, pending, resume_url),
        ]
    elif record.current_task and record.state == RunState.RUNNING:
        lines.append(f"**Running:** `{record.current_task}`")
    if record.continued:
        lines.append(f"Continued as new {record.continued} time(s); the kickoff_id stays.")
    if record.error:
        lines.append(f"**Error:** {record.error}")
    return "\n\n".join(lines)


def decision_commands(kickoff_id: str, pending: PendingHumanInput, resume_url: str) -> list[str]:
    def payload(approve: bool) -> dict[str, object]:
        body: dict[str, object] = {
            "task_id": pending.task_id,
            "is_approve": approve,
            "round": pending.round,
        }
        if not approve:
            body["human_feedback"] = "what to change"
        return body

    # Quoted for a POSIX shell: a run id from outside the API may hold spaces or quotes.
    def signal(approve: bool) -> str:
        return (
            f"`temporal workflow signal --workflow-id {shlex.quote(kickoff_id)} --name resume "
            f"--input {shlex.quote(json.dumps(payload(approve)))}`"
        )

    def curl(approve: bool) -> str:
        body = {"execution_id": kickoff_id, **payload(approve)}
        return (
            f"`curl -X POST {shlex.quote(resume_url)} "
            f'-H "Authorization: Bearer $CREW_HITL_API_TOKEN" '
            f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}`"
        )

    return [
        f"Approve: {signal(True)}",
        f"Reject: {signal(False)}",
        f"Approve over HTTP: {curl(True)}",
        f"Reject over HTTP: {curl(False)}",
    ]


def markdown_text(text: str) -> str:
    """Shown as typed: markdown and HTML marks in a model's output make no links or tags."""
    return MARKDOWN_SPECIALS.sub(r"\\\g<0>", text)
