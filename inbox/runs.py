"""The inbox's pages about runs: /ui lists the runs waiting for a decision, /ui/runs/{id} shows
one run with its earlier rounds and a form to approve or reject. A decision goes through the
same path as POST /resume, under the name the reviewer signed in with, and names the round it
was made on, so a run that moved on meanwhile is said so instead of decided."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.attestation import checked_sources
from api.decisions import resume_run
from api.dependencies import Box, Gateway, Services, ServicesDep
from api.errors import status_of
from api.failures import Failure
from api.gateway import TemporalGateway
from api.listing import MAX_PAGE_SIZE, ListedRun, RunFilter
from crew_hitl.contracts.http import ResumeRequest
from crew_hitl.contracts.status import (
    DecisionSource,
    PendingHumanInput,
    ReviewRound,
    RunState,
    StatusDocument,
    TaskProgress,
    Verdict,
)
from crew_hitl.text import excerpt
from inbox.diff import word_diff
from inbox.pages import FORM_EXPIRED, digest, error_page, here, page, path_segment, to_sign_in
from inbox.sessions import Session, SignedIn, same_token

router = APIRouter()
PAGE_SIZE = 20
DIGITS = re.compile(r"[0-9]{1,6}")
TAKE_WAIT_SECONDS = 2.0
TAKE_POLL_SECONDS = 0.05


@dataclass
class InboxRow:
    kickoff_id: str
    crew: str | None
    task: str | None
    round: int | None
    since: datetime | None
    excerpt: str
    decide_by: datetime | None = None
    # "yes": the signed-in reviewer may decide; "approved": they did, others must too;
    # "others": the task's review policy names other reviewers.
    turn: str = "yes"
    # The task's review policy names its reviewers (so "yes" means: named, and waiting).
    named: bool = False


NO_DEADLINE = datetime.max.replace(tzinfo=UTC)


@dataclass
class StaleDecision:
    """A decision the run could not take any more, shown back to its reviewer."""

    reason: str
    decision: Verdict
    round: int | None
    feedback: str


# ---------------------------------------------------------------- the list


@router.get("")
async def inbox(request: Request, session: SignedIn, services: ServicesDep) -> Response:
    if session is None:
        return to_sign_in(request, here(request))
    params = request.query_params
    crew = params.get("crew") or None
    context = {
        "session": session,
        "crews": sorted(services.crews.crews),
        "crew": crew,
        "page_size": page_size_of(params.get("page_size")),
        "first_page": bool(params.get("page")),
    }
    gateway = services.gateway
    try:
        run_filter = RunFilter.parse(RunState.PENDING_HUMAN_INPUT.value, crew, None)
        listed = await gateway.list_runs(run_filter, context["page_size"], params.get("page"))
        await gateway.add_statuses(listed.runs)
    except Failure as err:
        return page(
            "inbox.html", status_of(err), rows=[], next_page=None, notice=err.message, **context
        )
    rows = [row for run in listed.runs if (row := inbox_row(run, session.reviewer))]
    # The page's runs with a deadline first, the earliest first (the visibility store lists
    # by start time; this orders what one page shows).
    rows.sort(key=lambda row: (row.decide_by is None, row.decide_by or NO_DEADLINE))
    next_page = page_link(crew, context["page_size"], listed.next_page_token)
    return page("inbox.html", rows=rows, next_page=next_page, notice=None, **context)


def inbox_row(run: ListedRun, reviewer: str) -> InboxRow | None:
    pending = run.status.pending_human_input if run.status else None
    if run.status is not None and pending is None:
        return None  # decided since the visibility store listed it
    return InboxRow(
        kickoff_id=run.info.kickoff_id,
        crew=run.info.crew,
        task=pending.task_id if pending else run.info.pending_task,
        round=pending.round if pending else None,
        since=pending.since if pending else None,
        excerpt=excerpt(pending.output) if pending else "",
        decide_by=pending.decide_by if pending else None,
        turn=your_turn(reviewer, pending),
        named=bool(pending and pending.reviewers),
    )


def page_size_of(value: str | None) -> int:
    if value and DIGITS.fullmatch(value) and 1 <= int(value) <= MAX_PAGE_SIZE:
        return int(value)
    return PAGE_SIZE


def page_link(crew: str | None, page_size: int, token: str | None) -> str | None:
    if token is None:
        return None
    query = {"crew": crew or "", "page_size": str(page_size), "page": token}
    return "/ui?" + urlencode({k: v for k, v in query.items() if v})


# ---------------------------------------------------------------- one run


# `path`: the server decodes an escaped '/' in a run id before routing.
@router.get("/runs/{kickoff_id:path}")
async def run_page(
    request: Request, kickoff_id: str, session: SignedIn, gateway: Gateway, box: Box
) -> Response:
    if session is None:
        return to_sign_in(request, here(request))
    try:
        status = await gateway.status(kickoff_id)
    except Failure as err:
        return error_page(session, status_of(err), err.message)
    sent = request.query_params.get("sent")
    status = checked_sources(status, box)
    return run_view(session, status, sent=sent if sent in tuple(Verdict) else None)


@router.post("/runs/{kickoff_id:path}/decision")
async def decide(
    request: Request, kickoff_id: str, session: SignedIn, services: ServicesDep
) -> Response:
    if session is None:
        return to_sign_in(request, f"/ui/runs/{path_segment(kickoff_id)}")
    form = await request.form()
    if not same_token(session.csrf, form.get("csrf")):
        return error_page(session, 403, FORM_EXPIRED)
    try:
        body = decision_of(kickoff_id, form)
    except ValueError as err:
        return error_page(session, 422, f"The form was incomplete: {err}")
    try:
        await resume_run(services, body, session.reviewer, source=DecisionSource.INBOX)
    except Failure as err:
        if status_of(err) != 409:
            return error_page(session, status_of(err), err.message)
        return await stale_view(services, session, body, err.message)
    await until_taken(services.gateway, body)
    sent = Verdict.of(body.is_approve)
    return RedirectResponse(f"/ui/runs/{path_segment(kickoff_id)}?sent={sent}", status_code=303)


async def until_taken(gateway: TemporalGateway, body: ResumeRequest) -> None:
    """Wait (briefly) for the run to take the decision and get on with it, so that the page
    the reviewer lands on shows what came of it rather than the round just decided."""
    deadline = time.monotonic() + TAKE_WAIT_SECONDS
    while time.monotonic() < deadline:
        status = await gateway.status_or_none(body.execution_id, TAKE_WAIT_SECONDS)
        if status is None:
            return
        pending = status.pending_human_input
        decided = pending is None or (pending.task_id, pending.round) != (body.task_id, body.round)
        # A quick task is worth the wait too: the page then shows its next round at once.
        if decided and status.state != RunState.RUNNING:
            return
        await asyncio.sleep(TAKE_POLL_SECONDS)


def decision_of(kickoff_id: str, form: FormData) -> ResumeRequest:
    choice, task_id, round_text = form.get("decision"), form.get("task_id"), form.get("round")
    feedback = form.get("feedback", "")
    edited, original = form.get("edited_output"), form.get("original_digest")
    if choice not in tuple(Verdict):
        raise ValueError("choose Approve or Reject")
    if not isinstance(task_id, str) or not isinstance(feedback, str):
        raise ValueError("the task is missing")
    if not isinstance(round_text, str) or not DIGITS.fullmatch(round_text):
        raise ValueError("the round is missing")
    try:
        return ResumeRequest(
            execution_id=kickoff_id,
            task_id=task_id,
            is_approve=Verdict(choice).is_approve,
            # Browsers send CRLF line ends from a textarea; keep the feedback as typed.
            human_feedback=feedback.replace("\r\n", "\n"),
            round=int(round_text),
            edited_output=edit_of(edited, original) if choice == Verdict.APPROVED else None,
        )
    except ValidationError as err:
        raise ValueError("; ".join(str(e["msg"]) for e in err.errors())) from None


def edit_of(edited: object, original: object) -> str | None:
    """The form's edited output when the reviewer changed it, else None."""
    if not isinstance(edited, str) or not edited.strip():
        return None
    text = edited.replace("\r\n", "\n")
    return None if isinstance(original, str) and digest(text) == original else text


async def stale_view(
    services: Services, session: Session, body: ResumeRequest, reason: str
) -> Response:
    stale = StaleDecision(
        reason=reason,
        decision=Verdict.of(body.is_approve),
        round=body.round,
        feedback=body.human_feedback,
    )
    try:
        status = await services.gateway.status(body.execution_id)
    except Failure as err:
        return error_page(session, status_of(err), err.message)
    status = checked_sources(status, services.box)
    return run_view(session, status, stale=stale, status_code=409)


def run_view(
    session: Session,
    status: StatusDocument,
    sent: str | None = None,
    stale: StaleDecision | None = None,
    status_code: int = 200,
) -> Response:
    pending = status.pending_human_input
    pending_task = next(
        (task for task in status.tasks if pending and task.task_id == pending.task_id), None
    )
    return page(
        "run.html",
        status_code,
        session=session,
        run=status,
        pending=pending,
        turn=your_turn(session.reviewer, pending),
        revision=revision_of(pending_task, pending),
        earlier_rounds=decided_rounds(pending_task),
        other_tasks=[task for task in status.tasks if task is not pending_task],
        sent=sent,
        stale=stale,
        # While a task runs there is no form to lose: the page reloads itself until the run
        # waits again or ends.
        refresh=status.state == RunState.RUNNING and status.degraded is None,
    )


@dataclass(frozen=True)
class Revision:
    """A round after a rejection: what the reviewer asked for, and what changed since."""

    previous_round: int
    feedback: str
    changes: Markup


def revision_of(task: TaskProgress | None, pending: PendingHumanInput | None) -> Revision | None:
    if task is None or pending is None or len(task.rounds) < 2:
        return None
    previous, current = task.rounds[-2], task.rounds[-1]
    if previous.decision != Verdict.REJECTED or current.round != pending.round:
        return None
    return Revision(
        previous_round=previous.round,
        feedback=previous.feedback or "",
        changes=word_diff(previous.output, current.output),
    )


def your_turn(reviewer: str, pending: PendingHumanInput | None) -> str:
    """Whether the signed-in reviewer may decide the waiting round: "yes", "approved" (they
    did; others must too) or "others" (the task's review policy names other reviewers)."""
    if pending is None:
        return "yes"
    if any(approval.reviewer == reviewer for approval in pending.approvals):
        return "approved"
    return "yes" if pending.may_decide(reviewer) else "others"


def decided_rounds(task: TaskProgress | None) -> list[ReviewRound]:
    return [r for r in task.rounds if r.decision is not None] if task else []
