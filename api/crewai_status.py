"""The status document as CrewAI's deployed-crew reference also reads it: `status` (running,
completed, error; pending_human_input and stopped for the states it does not have) and
`execution_time`, seconds since kickoff (to the end, for a finished run). Filled in when the
API answers, since a running run's time moves on between queries."""

from __future__ import annotations

from datetime import UTC, datetime

from crew_hitl.contracts.status import TERMINAL_STATES, CrewAIStatus, StatusDocument


def with_crewai_fields(doc: StatusDocument, now: datetime | None = None) -> StatusDocument:
    doc.status = CrewAIStatus.of(doc.state)
    end = doc.finished_at
    if end is None and doc.state not in TERMINAL_STATES:
        end = now or datetime.now(UTC)
    if doc.started_at is not None and end is not None:
        doc.execution_time = round((end - doc.started_at).total_seconds(), 3)
    return doc
