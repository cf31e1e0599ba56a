"""A kickoff's `webhooks` object: the run's events in CrewAI's streaming format, {"events":
[{"id", "execution_id", "timestamp", "type", "data"}]}, under CrewAI's event type names.
With `realtime` each event leaves at once; otherwise they are batched and leave when the run
pauses for a reviewer, a task ends, the run ends or hands over to a continuation (or a batch
is full). Batches go through the outbox like every other webhook: signed, retried, in order,
with a delivery row. A run without the object does nothing here, not even draw an id."""

from __future__ import annotations

import json
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from crew_hitl.contracts.history import AgentStep, EventStreamSpec, WebhookTarget
    from crew_hitl.text import shortened

from workflows.outbox import Outbox

# The batch event name in `deliveries`, and the most events and bytes one batch carries: a
# batch is one activity input, and Temporal refuses a payload over 2 MB (failing the run).
BATCH_EVENT = "events"
MAX_BATCH = 50
MAX_BATCH_BYTES = 256 * 1024
# A text in an event's data is cut to this many characters (the whole output is in /status).
MAX_TEXT = 16 * 1024
# The kind of an executor's step as CrewAI names the event.
STEP_EVENTS = {
    "llm": "llm_call_completed",
    "tool": "tool_usage_finished",
    "tool_error": "tool_usage_error",
}


class EventStream:
    def __init__(
        self,
        kickoff_id: str,
        spec: EventStreamSpec | None,
        target: WebhookTarget | None,
        outbox: Outbox,
    ) -> None:
        self._kickoff_id = kickoff_id
        self._spec = spec if target is not None else None
        self._target = target
        self._outbox = outbox
        self._batch: list[dict[str, Any]] = []
        self._batch_bytes = 0

    def add(self, event_type: str, **data: Any) -> None:
        spec = self._spec
        if spec is None or (spec.events and event_type not in spec.events):
            return
        event = {
            "id": str(workflow.uuid4()),
            "execution_id": self._kickoff_id,
            "timestamp": workflow.now().isoformat(),
            "type": event_type,
            "data": cut_texts(data),
        }
        size = len(json.dumps(event, default=str))
        if self._batch and self._batch_bytes + size > MAX_BATCH_BYTES:
            self.flush()
        self._batch.append(event)
        self._batch_bytes += size
        if spec.realtime or len(self._batch) >= MAX_BATCH:
            self.flush()

    def add_step(self, step: AgentStep, **common: Any) -> None:
        """A model call or tool use an executor reported (other steps are the agent's own
        execution, streamed as agent_execution_completed)."""
        event_type = STEP_EVENTS.get(step.kind or "")
        if event_type is None:
            return
        if step.tool is None:
            self.add(event_type, **common, response=step.result)
            return
        outcome = "error" if step.kind == "tool_error" else "output"
        data = {"tool_name": step.tool, "tool_args": step.tool_input, outcome: step.result}
        self.add(event_type, **common, **data)

    def flush(self) -> None:
        if self._target is None or not self._batch:
            return
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        self._outbox.send(self._target, BATCH_EVENT, {"events": batch}, log=False)


def cut_texts(value: Any) -> Any:
    """The value with every long text in it shortened to MAX_TEXT characters."""
    if isinstance(value, str):
        return shortened(value, MAX_TEXT)
    if isinstance(value, dict):
        return {key: cut_texts(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cut_texts(item) for item in value]
    return value
