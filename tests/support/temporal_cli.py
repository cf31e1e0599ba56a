"""The `temporal` CLI against a stack's dev server."""

from __future__ import annotations

import json
import subprocess

from runner.stack import Stack, temporal_binary


def temporal(stack: Stack, *args: str) -> str:
    command = [temporal_binary(), *args, "--address", stack.settings.temporal_address]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def signal_resume(stack: Stack, kickoff_id: str, payload: dict | str) -> None:
    """`temporal workflow signal --name resume` with a JSON object (or raw text) as input."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    temporal(
        stack,
        "workflow",
        "signal",
        "--workflow-id",
        kickoff_id,
        "--name",
        "resume",
        "--input",
        text,
    )
