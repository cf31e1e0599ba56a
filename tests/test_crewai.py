"""CrewAI projects as crews: the user's crew.py runs each task with CrewAI's own agent (model,
function calling, tools) against the fake OpenAI-compatible server, which asks for a tool call
whenever an agent offers tools. Review, reject and approve work as for the YAML crews."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from crew_hitl.contracts.history import CrewRunInput
from crew_hitl.spec import load_crew
from support import (
    MODEL_KEY,
    REFUSE,
    TOOL_ARGUMENT,
    human_input_request,
    kickoff,
    resume,
    state_is,
    wait_status,
)
from workflows.crew_run import CrewRunWorkflow

FEEDBACK = 'Cite the 2023 survey, and say "waggle dance" by name.'
# The first task of a process imports CrewAI (5-8 s on two cores) before it runs.
FIRST_TASK = 90


def said_in(request: dict) -> str:
    """Everything the messages of a model request say, as text."""
    return "\n".join(m.get("content") or "" for m in request["messages"])


def test_a_crewai_project_runs_its_tool_and_goes_through_review(api, receiver, model_server, stack):
    topic = "honeybees-7c1d"
    kickoff_id = kickoff(
        api,
        receiver,
        {"topic": topic},
        crew="research_crewai",
        taskWebhookUrl=receiver.url("/task"),
        stepWebhookUrl=receiver.url("/step"),
        crewWebhookUrl=receiver.url("/crew"),
        webhooks={
            "events": ["llm_call_completed", "tool_usage_finished"],
            "url": receiver.url("/stream"),
            "realtime": True,
        },
    )
    first = human_input_request(receiver, kickoff_id, 1, timeout=FIRST_TASK)
    assert first.body["task_id"] == "research_task"
    # The same steps, streamed under CrewAI's event names.
    streamed = [
        r.body["events"][0]
        for r in receiver.wait_for(
            lambda r: r.path == "/stream" and r.body["events"][0]["execution_id"] == kickoff_id,
            count=3,
        )
    ]
    assert [e["type"] for e in streamed] == [
        "llm_call_completed",
        "tool_usage_finished",
        "llm_call_completed",
    ]
    assert streamed[1]["data"]["tool_name"] == "save_note"
    assert streamed[1]["data"]["output"] == f"noted: {TOOL_ARGUMENT}"
    assert streamed[2]["data"]["response"] == first.body["task_output"]
    assert {e["data"]["agent_role"] for e in streamed} == {streamed[0]["data"]["agent_role"]}

    # The project's own tool ran, and the steps arrived in order with its name, input, result.
    notes = Path(os.environ["CREW_NOTES_FILE"]).read_text()
    assert f"- {TOOL_ARGUMENT}\n" in notes
    steps = [
        r.body
        for r in receiver.wait_for(
            lambda r: r.event == "agent_step" and r.body["kickoff_id"] == kickoff_id, count=3
        )
    ]
    assert [s["tool"] for s in steps] == [None, "save_note", None]
    assert json.loads(steps[1]["tool_input"]) == {"note": TOOL_ARGUMENT}
    assert steps[1]["result"] == f"noted: {TOOL_ARGUMENT}"
    assert steps[2]["result"] == first.body["task_output"]

    assert resume(api, kickoff_id, "research_task", False, FEEDBACK).status_code == 200
    second = human_input_request(receiver, kickoff_id, 2, timeout=30)
    said = [said_in(r) for r in model_server.for_subject(topic)]
    revised = [text for text in said if FEEDBACK in text]
    assert revised, "the feedback never reached the model verbatim"
    assert first.body["task_output"] in revised[0], "the rejected output was not shown"

    assert resume(api, kickoff_id, "research_task", True, "Good now").status_code == 200
    status = wait_status(api, kickoff_id, state_is("SUCCESS"), timeout=60)
    reporting = [said_in(r) for r in model_server.for_subject(f"{topic} Reporting Analyst")]
    assert reporting and all(second.body["task_output"] in text for text in reporting), (
        "the approved output is not in the next task's context"
    )

    total = status["token_usage"]["total_tokens"]
    assert total == sum(t["token_usage"]["total_tokens"] for t in status["tasks"])
    assert total == model_server.tokens_for(topic), "token usage does not add up"
    [crew_done] = receiver.wait_for(
        lambda r: r.event == "crew_completed" and r.body["kickoff_id"] == kickoff_id
    )
    assert crew_done.body["token_usage"]["total_tokens"] == total
    assert crew_done.body["result"] == status["result"]
    completed = receiver.wait_for(
        lambda r: r.event == "task_completed" and r.body["kickoff_id"] == kickoff_id, count=2
    )
    research = next(r.body for r in completed if r.body["task_id"] == "research_task")
    assert research["agent"] == f"{topic} Senior Data Researcher"
    assert research["summary"].startswith(f"Conduct a thorough research about {topic}.")
    assert research["output"] == second.body["task_output"]
    assert research["output_json"] is None


def test_a_project_in_the_create_crew_layout_runs_reject_then_approve(api, receiver):
    kickoff_id = kickoff(api, receiver, {"city": "Lisbon"}, crew="trip_planner")
    human_input_request(receiver, kickoff_id, 1, timeout=FIRST_TASK)
    assert Path(os.environ["TRIP_TOOL_LOG"]).read_text().strip(), "the custom tool never ran"
    assert resume(api, kickoff_id, "route_task", False, "Shorter routes").status_code == 200
    human_input_request(receiver, kickoff_id, 2, timeout=30)
    assert resume(api, kickoff_id, "route_task", True).status_code == 200
    status = wait_status(api, kickoff_id, state_is("SUCCESS"), timeout=60)
    assert [t["status"] for t in status["tasks"]] == ["completed", "completed"]
    assert [r["decision"] for r in status["tasks"][0]["rounds"]] == ["rejected", "approved"]


def test_a_model_that_refuses_the_key_fails_the_run_with_the_key_redacted(api, receiver):
    kickoff_id = kickoff(api, receiver, {"topic": REFUSE}, crew="research_crewai")
    status = wait_status(api, kickoff_id, state_is("FAILED"), timeout=FIRST_TASK)
    assert "the model endpoint answered HTTP 401" in status["error"]
    assert MODEL_KEY not in json.dumps(status)


def test_a_crew_py_that_cannot_be_imported_fails_the_run_saying_why(api, receiver):
    kickoff_id = kickoff(api, receiver, {"subject": "x"}, crew="crewai_broken")
    status = wait_status(api, kickoff_id, state_is("FAILED"), timeout=FIRST_TASK)
    assert "crewai_broken/crew.py" in status["error"]
    assert "No module named 'a_package_nobody_installed'" in status["error"]


def test_a_workflow_naming_code_no_crew_declares_fails_without_calling_it(
    stack, api, tmp_path: Path
):
    """Anyone who can start a workflow on the task queue writes its input: the worker runs only
    what its own crews declare."""
    marker = tmp_path / "called"
    crew = load_crew("python_review", Path(stack.settings.crews_dir) / "python_review")
    author = crew.agents["author"].model_copy(
        update={"executor": "python:crew_functions:undeclared_side_effect"}
    )
    forged = crew.model_copy(update={"agents": {**crew.agents, "author": author}})
    run = CrewRunInput(
        kickoff_id=f"forged-{tmp_path.name}",
        crew=forged,
        inputs={"subject": "x", "marker": str(marker)},
    )

    async def start() -> None:
        client = await Client.connect(
            stack.settings.temporal_address, data_converter=pydantic_data_converter
        )
        await client.start_workflow(
            CrewRunWorkflow.run, run, id=run.kickoff_id, task_queue=stack.settings.task_queue
        )

    asyncio.run(start())
    status = wait_status(api, run.kickoff_id, state_is("FAILED"), timeout=30)
    assert "python:crew_functions:undeclared_side_effect" in status["error"]
    assert "declares" in status["error"]
    assert not marker.exists(), "the worker called code no crew declares"
