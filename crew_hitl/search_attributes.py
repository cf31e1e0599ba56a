"""The search attributes every run carries, so the Web UI, CLI and API can find paused runs."""

from temporalio.common import SearchAttributeKey

CREW_NAME = SearchAttributeKey.for_keyword("CrewName")
CREW_STATE = SearchAttributeKey.for_keyword("CrewState")
PENDING_TASK_ID = SearchAttributeKey.for_keyword("PendingTaskId")
# When the waiting round's review policy decides on its own (decide_within); set only then.
REVIEW_DEADLINE = SearchAttributeKey.for_datetime("ReviewDeadline")

ALL = (CREW_NAME, CREW_STATE, PENDING_TASK_ID, REVIEW_DEADLINE)
# The type names `temporal server start-dev --search-attribute NAME=TYPE` takes.
TYPE_NAMES = {CREW_NAME: "Keyword", CREW_STATE: "Keyword", PENDING_TASK_ID: "Keyword"}
TYPE_NAMES[REVIEW_DEADLINE] = "Datetime"
