"""Functions for the python executor, as a user would write them (imported by the worker)."""

from __future__ import annotations

import asyncio
import os
import time

from pydantic import BaseModel

from crew_hitl import TaskContext

_calls: dict[str, int] = {}


def draft(ctx: TaskContext) -> str:
    """Sync. Fails once on the first call of a 'flaky' run, to show the retry."""
    calls = _calls[ctx.kickoff_id] = _calls.get(ctx.kickoff_id, 0) + 1
    if ctx.inputs.get("subject") == "flaky" and calls == 1:
        raise ConnectionError("the upstream service blinked")
    lines = [f"Draft on {ctx.inputs['subject']} (round {ctx.round}, call {calls})"]
    lines += [f"- addressed: {text}" for text in ctx.feedback]
    return "\n".join(lines)


class Outline(BaseModel):
    title: str
    points: list[str]
    based_on: list[str]


async def outline(ctx: TaskContext) -> Outline:
    await asyncio.sleep(0)
    return Outline(
        title=ctx.task.description,
        points=["one", "two"],
        based_on=[item.task_id for item in ctx.context],
    )


def broken(ctx: TaskContext) -> str:
    raise ValueError(f"cannot draft {ctx.inputs['subject']}: no sources")


def slow_draft(ctx: TaskContext) -> str:
    """Takes a few seconds: long enough to kill the worker running it."""
    time.sleep(float(ctx.inputs.get("seconds", 3)))
    return f"Slow draft on {ctx.inputs['subject']} (round {ctx.round}, pid {os.getpid()})"


def undeclared_side_effect(ctx: TaskContext) -> str:
    """Declared by no crew: a worker must never call it (it would leave a marker file)."""
    with open(ctx.inputs["marker"], "w", encoding="utf-8") as marker:
        marker.write("called")
    return "should not run"
