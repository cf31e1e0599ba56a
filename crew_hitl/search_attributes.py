"""The search attributes every run carries, so the Web UI, CLI and API can find paused runs."""

from temporalio.common import SearchAttributeKey

CREW_NAME = SearchAttributeKey.for_keyword("CrewName")
CREW_STATE = SearchAttributeKey.for_keyword("CrewState")
PENDING_TASK_ID = SearchAttributeKey.for_keyword("PendingTaskId")

ALL = (CREW_NAME, CREW_STATE, PENDING_TASK_ID)
