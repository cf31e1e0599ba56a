"""A custom tool: the researcher keeps each finding as a note in a file (CREW_NOTES_FILE, else
research-notes.md in the system's temp dir)."""

import os
import tempfile
from pathlib import Path

from crewai.tools import tool


@tool("save_note")
def save_note(note: str) -> str:
    """Save one research finding as a note, so the report can cite it later."""
    path = Path(
        os.environ.get("CREW_NOTES_FILE") or Path(tempfile.gettempdir()) / "research-notes.md"
    )
    with path.open("a", encoding="utf-8") as notes:
        notes.write(f"- {note}\n")
    return f"noted: {note}"
