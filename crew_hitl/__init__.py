"""crew-hitl: durable human-in-the-loop crew runs on Temporal."""

TASK_QUEUE = "crew-runs"
WORKFLOW_TYPE = "CrewRunWorkflow"

# What a python-executor function receives: the interpolated task and agent, the crew's
# inputs, the context outputs, reviewer notes, every feedback so far and the round.
from crew_hitl.contracts.history import ExecuteTaskInput as TaskContext  # noqa: E402

__all__ = ["TASK_QUEUE", "WORKFLOW_TYPE", "TaskContext"]
