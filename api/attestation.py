"""Which decisions the service itself vouches for. The API and the inbox attest each decision
they send with a keyed hash (the SecretBox's) of the run, the decision and who made it; the
run keeps it in its audit. When a status is read, an entry that says it came from the API or
the inbox without a valid attestation (a signal sent to Temporal directly that claims to be
one) is shown as what it is: sent to Temporal directly, its reviewer claimed."""

from __future__ import annotations

import hmac

from crew_hitl.contracts.status import AuditEntry, DecisionSource, StatusDocument
from crew_hitl.secrets import SecretBox

VOUCHED = {DecisionSource.API, DecisionSource.INBOX}


def attestation(
    box: SecretBox,
    kickoff_id: str,
    decision_id: str | None,
    reviewer: str | None,
    source: DecisionSource,
    task_id: str,
    is_approve: bool,
) -> str:
    parts = [kickoff_id, decision_id or "", reviewer or "", source.value, task_id, str(is_approve)]
    return box.fingerprint("\n".join(parts))


def attested(box: SecretBox, kickoff_id: str, entry: AuditEntry) -> bool:
    if entry.attestation is None or entry.source is None or entry.decision is None:
        return False
    expected = attestation(
        box,
        kickoff_id,
        entry.decision_id,
        entry.reviewer,
        entry.source,
        entry.task_id,
        entry.decision.is_approve,
    )
    return hmac.compare_digest(expected, entry.attestation)


def checked_sources(doc: StatusDocument, box: SecretBox) -> StatusDocument:
    """The document with every unproven api/inbox claim shown as a direct Temporal decision."""
    for entry in doc.audit:
        if entry.source in VOUCHED and not attested(box, doc.kickoff_id, entry):
            entry.source = DecisionSource.TEMPORAL
            entry.reviewer_claimed = entry.reviewer is not None
            for task in doc.tasks:
                for review in task.rounds:
                    if (task.task_id, review.round) == (entry.task_id, entry.round):
                        review.source = DecisionSource.TEMPORAL
    return doc
