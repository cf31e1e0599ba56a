"""The commands a run's current details show in the Temporal Web UI work as printed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from runner.stack import temporal_binary
from support import TOKEN, human_input_request, kickoff, state_is, temporal, wait_status


def current_details(stack, kickoff_id: str) -> str:
    return temporal(stack, "workflow", "metadata", "--workflow-id", kickoff_id)


def command_after(label: str, details: str) -> str:
    match = re.search(rf"^{re.escape(label)}: `(.+)`$", details, re.MULTILINE)
    assert match, f"no {label!r} command in:\n{details}"
    return match.group(1)


def run_shell(stack, command: str) -> str:
    """As an operator would paste it: the CLI and token from the environment."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(temporal_binary()).parent}{os.pathsep}{env['PATH']}"
    env["TEMPORAL_ADDRESS"] = stack.settings.temporal_address
    env["CREW_HITL_API_TOKEN"] = TOKEN
    done = subprocess.run(
        command, shell=True, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_current_details_show_commands_that_decide_the_run(stack, api, receiver):
    kickoff_id = kickoff(api, receiver)
    human_input_request(receiver, kickoff_id, 1)
    details = current_details(stack, kickoff_id)
    assert "PENDING_HUMAN_INPUT" in details
    assert "`research_task` round 1" in details

    run_shell(stack, command_after("Reject", details))
    human_input_request(receiver, kickoff_id, 2)
    status = wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))
    assert status["tasks"][0]["rounds"][0]["feedback"] == "what to change"

    details = current_details(stack, kickoff_id)
    assert "`research_task` round 2" in details
    answer = run_shell(stack, command_after("Approve over HTTP", details))
    assert '"status":"resumed"' in answer.replace(" ", "")
    wait_status(api, kickoff_id, state_is("SUCCESS"))
    assert "SUCCESS" in current_details(stack, kickoff_id)
