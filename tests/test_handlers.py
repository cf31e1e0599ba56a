"""The API names CrewRunWorkflow's handlers from crew_hitl/contracts/handlers.py instead of
importing the workflow: the names must be the workflow's own, and the API must stay free
of the worker's code."""

from __future__ import annotations

import subprocess
import sys

from temporalio import workflow

from crew_hitl import WORKFLOW_TYPE
from crew_hitl.contracts import handlers as h
from workflows.crew_run import CrewRunWorkflow


def test_the_contract_names_are_the_workflows_handlers():
    definition = workflow._Definition.from_class(CrewRunWorkflow)
    assert definition is not None
    assert definition.name == WORKFLOW_TYPE
    assert set(definition.signals) == {h.RESUME_SIGNAL}
    assert set(definition.updates) == {h.DECIDE_UPDATE}
    assert set(definition.queries) == {h.STATUS_QUERY, h.DECISION_QUERY, h.EVENTS_QUERY}


def test_the_api_imports_no_workflow_or_activity_code():
    # The worker's modules cost the API 10 MB of resident memory (aiohttp, the executors).
    probe = (
        "import sys, api.app\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('workflows', 'activities', 'aiohttp', 'crewai')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
