"""Short plain-text views of a task's (markdown) output."""

from __future__ import annotations

import re
from typing import Any

EXCERPT_CHARS = 140
SUMMARY_MAX_BYTES = 300
MARKDOWN_MARKS = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|>\s*|\d+[.)]\s+)")


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """The first words of a markdown text on one line, without its markup at line starts."""
    lines = (MARKDOWN_MARKS.sub("", line).strip() for line in (text or "").splitlines())
    flat = " ".join(" ".join(line for line in lines if line).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def task_summary(description: str) -> str:
    """A task's summary as CrewAI's TaskOutput gives it: the description's first ten words."""
    return " ".join(description.split()[:10]) + "..."


def shortened(text: str, limit: int = 300) -> str:
    """The text's first `limit` characters, marked as cut when it was longer."""
    return text if len(text) <= limit else text[:limit] + " [...]"


def run_summary(crew_name: str, inputs: dict[str, Any]) -> str:
    """What the Temporal Web UI shows for a run: its crew and inputs, in a line or two."""
    text = f"crew {crew_name}"
    if inputs:
        shown = ", ".join(f"{key}: {' '.join(str(value).split())}" for key, value in inputs.items())
        text += f" — {shown}"
    data = text.encode()
    if len(data) <= SUMMARY_MAX_BYTES:
        return text
    return data[: SUMMARY_MAX_BYTES - len("…".encode())].decode(errors="ignore") + "…"
