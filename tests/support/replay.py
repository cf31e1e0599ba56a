"""Replaying a recorded history against today's CrewRunWorkflow.

`tests/histories/` holds histories recorded from real runs (see tests/test_replay.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Interceptor, Replayer

from support.constants import TESTS
from worker import STRICT_WORKFLOW_RUNNER
from workflows.crew_run import CrewRunWorkflow

HISTORIES = TESTS / "histories"


def replay(history_json: str, workflow_id: str, interceptors: Sequence[Interceptor] = ()) -> None:
    history = WorkflowHistory.from_json(workflow_id, history_json)
    replayer = Replayer(
        workflows=[CrewRunWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=STRICT_WORKFLOW_RUNNER,
        interceptors=interceptors,
    )
    asyncio.run(replayer.replay_workflow(history))
