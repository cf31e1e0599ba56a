"""The identify_sender activity: the Temporal client identity behind a decision sent to
Temporal directly (a CLI signal, an update from another program). The SDK hands a signal or
update handler no sender; the run's history records one on the event, so this reads it there.
Only such decisions need it (the API's and the inbox's name their checked reviewer)."""

from __future__ import annotations

from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import PayloadConverter

from crew_hitl.contracts.history import IdentifySenderInput, ResumeSignal

SIGNAL = "resume"
UPDATE = "decide"


@activity.defn(name="identify_sender")
async def identify_sender(decision: IdentifySenderInput) -> str | None:
    """The identity of the latest `resume` signal or `decide` update in the run's history
    that carries this decision; None if none does."""
    client = activity.client()
    converter = client.data_converter.payload_converter
    handle = client.get_workflow_handle(decision.workflow_id, run_id=decision.run_id)
    identity: str | None = None
    async for event in handle.fetch_history_events():
        sent = sent_decision(event)
        if sent is not None and carries(converter, sent[1], decision):
            identity = sent[0] or None
    return identity


def sent_decision(event: HistoryEvent) -> tuple[str, Payload] | None:
    """(the sender's identity, the decision's payload) of a resume signal or decide update."""
    if event.HasField("workflow_execution_signaled_event_attributes"):
        signaled = event.workflow_execution_signaled_event_attributes
        if signaled.signal_name == SIGNAL and signaled.input.payloads:
            return signaled.identity, signaled.input.payloads[0]
    if event.HasField("workflow_execution_update_accepted_event_attributes"):
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if request.input.name == UPDATE and request.input.args.payloads:
            return request.meta.identity, request.input.args.payloads[0]
    return None


def carries(converter: PayloadConverter, payload: Payload, decision: IdentifySenderInput) -> bool:
    """Whether the payload is this decision, read as the run read it (ResumeSignal)."""
    try:
        sent = ResumeSignal.model_validate(converter.from_payload(payload))
    except Exception:  # a malformed signal carries no decision
        return False
    return (sent.task_id, sent.is_approve, sent.human_feedback, sent.reviewer) == (
        decision.task_id,
        decision.is_approve,
        decision.human_feedback,
        decision.reviewer,
    )
