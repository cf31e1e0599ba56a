"""Short plain-text views of a task's (markdown) output."""

from __future__ import annotations

import re

EXCERPT_CHARS = 140
MARKDOWN_MARKS = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|>\s*|\d+[.)]\s+)")


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """The first words of a markdown text on one line, without its markup at line starts."""
    lines = (MARKDOWN_MARKS.sub("", line).strip() for line in (text or "").splitlines())
    flat = " ".join(" ".join(line for line in lines if line).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
