"""crew-hitl: durable human-in-the-loop crew runs on Temporal."""

TASK_QUEUE = "crew-runs"
WORKFLOW_TYPE = "CrewRunWorkflow"
