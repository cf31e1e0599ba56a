"""The reviewer's inbox: /ui lists the runs waiting for a decision, /ui/runs/{id} shows one run
with its earlier rounds and a form to approve or reject. A decision goes through the same path
as POST /resume, under the name the reviewer signed in with, and names the round it was made
on, so a run that moved on meanwhile is said so instead of decided."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.datastructures import FormData
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import identify
from api.errors import ApiError
from api.listing import (
    MAX_PAGE_SIZE,
    ListedRun,
    RunFilter,
    add_statuses,
    list_runs,
    status_or_none,
)
from api.resume import resume_run
from api.runs import query_status
from crew_hitl.contracts.http import ResumeRequest
from crew_hitl.contracts.status import ReviewRound, RunState, StatusDocument, TaskProgress, Verdict
from crew_hitl.text import excerpt
from inbox.pages import page, path_segment
from inbox.sessions import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    SIGN_IN_COOKIE,
    SIGN_IN_SECONDS,
    Session,
    clear_cookie,
    current_session,
    new_session,
    same_token,
    seal_session,
    seal_sign_in,
    set_cookie,
    sign_in_csrf,
)
from inbox.throttle import SignInThrottle

log = logging.getLogger("crew_hitl.inbox")

PAGE_SIZE = 20
DIGITS = re.compile(r"[0-9]{1,6}")
TAKE_WAIT_SECONDS = 2.0
TAKE_POLL_SECONDS = 0.05
FORM_EXPIRED = "This form expired or did not come from this site. Reload the page and try again."


@dataclass
class InboxRow:
    kickoff_id: str
    crew: str | None
    task: str | None
    round: int | None
    since: datetime | None
    excerpt: str


@dataclass
class StaleDecision:
    """A decision the run could not take any more, shown back to its reviewer."""

    reason: str
    decision: str
    round: int | None
    feedback: str


def install_inbox(app: FastAPI) -> None:
    static = StaticFiles(packages=[("inbox", "static")])
    app.mount("/ui/static", static, name="inbox-static")
    router = APIRouter(prefix="/ui", include_in_schema=False)
    router.add_api_route("", inbox, methods=["GET"])
    # `path`: the server decodes an escaped '/' in a run id before routing.
    router.add_api_route("/runs/{kickoff_id:path}", run_page, methods=["GET"])
    router.add_api_route("/runs/{kickoff_id:path}/decision", decide, methods=["POST"])
    router.add_api_route("/sign-in", sign_in_form, methods=["GET"])
    router.add_api_route("/sign-in", sign_in, methods=["POST"])
    router.add_api_route("/sign-out", sign_out, methods=["POST"])
    app.include_router(router)
    app.state.sign_in_throttle = SignInThrottle()


# ---------------------------------------------------------------- the list


async def inbox(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return to_sign_in(request, here(request))
    params = request.query_params
    crew = params.get("crew") or None
    context = {
        "session": session,
        "crews": sorted(request.app.state.crews.crews),
        "crew": crew,
        "page_size": page_size_of(params.get("page_size")),
        "first_page": bool(params.get("page")),
    }
    try:
        client = await temporal(request)
        run_filter = RunFilter.parse(RunState.PENDING_HUMAN_INPUT.value, crew, None)
        listed = await list_runs(client, run_filter, context["page_size"], params.get("page"))
        await add_statuses(client, listed.runs)
    except (ApiError, RPCError) as err:
        status_code, message = failure(err)
        return page("inbox.html", status_code, rows=[], next_page=None, notice=message, **context)
    rows = [row for row in map(inbox_row, listed.runs) if row is not None]
    next_page = page_link(crew, context["page_size"], listed.next_page_token)
    return page("inbox.html", rows=rows, next_page=next_page, notice=None, **context)


def inbox_row(run: ListedRun) -> InboxRow | None:
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


async def run_page(request: Request, kickoff_id: str) -> Response:
    session = current_session(request)
    if session is None:
        return to_sign_in(request, here(request))
    try:
        status = await run_status(request, kickoff_id)
    except (ApiError, RPCError) as err:
        return error_page(session, *failure(err))
    sent = request.query_params.get("sent")
    return run_view(session, status, sent=sent if sent in ("approved", "rejected") else None)


async def decide(request: Request, kickoff_id: str) -> Response:
    session = current_session(request)
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
        await resume_run(request, body, session.reviewer)
    except (ApiError, RPCError) as err:
        status_code, message = failure(err)
        if status_code != 409:
            return error_page(session, status_code, message)
        return await stale_view(request, session, body, message)
    await until_taken(request, body)
    sent = Verdict.of(body.is_approve)
    return RedirectResponse(f"/ui/runs/{path_segment(kickoff_id)}?sent={sent}", status_code=303)


async def until_taken(request: Request, body: ResumeRequest) -> None:
    """Wait (briefly) for the run to take the decision and get on with it, so that the page
    the reviewer lands on shows what came of it rather than the round just decided."""
    client = await temporal(request)
    deadline = time.monotonic() + TAKE_WAIT_SECONDS
    while time.monotonic() < deadline:
        status = await status_or_none(client, body.execution_id, TAKE_WAIT_SECONDS)
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
    if choice not in ("approve", "reject"):
        raise ValueError("choose Approve or Reject")
    if not isinstance(task_id, str) or not isinstance(feedback, str):
        raise ValueError("the task is missing")
    if not isinstance(round_text, str) or not DIGITS.fullmatch(round_text):
        raise ValueError("the round is missing")
    try:
        return ResumeRequest(
            execution_id=kickoff_id,
            task_id=task_id,
            is_approve=choice == "approve",
            # Browsers send CRLF line ends from a textarea; keep the feedback as typed.
            human_feedback=feedback.replace("\r\n", "\n"),
            round=int(round_text),
        )
    except ValidationError as err:
        raise ValueError("; ".join(str(e["msg"]) for e in err.errors())) from None


async def stale_view(
    request: Request, session: Session, body: ResumeRequest, reason: str
) -> Response:
    stale = StaleDecision(
        reason=reason,
        decision="approve" if body.is_approve else "reject",
        round=body.round,
        feedback=body.human_feedback,
    )
    try:
        status = await run_status(request, body.execution_id)
    except (ApiError, RPCError) as err:
        return error_page(session, *failure(err))
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
        earlier_rounds=decided_rounds(pending_task),
        other_tasks=[task for task in status.tasks if task is not pending_task],
        sent=sent,
        stale=stale,
        # While a task runs there is no form to lose: the page reloads itself until the run
        # waits again or ends.
        refresh=status.state == RunState.RUNNING and status.degraded is None,
    )


def decided_rounds(task: TaskProgress | None) -> list[ReviewRound]:
    return [r for r in task.rounds if r.decision is not None] if task else []


async def run_status(request: Request, kickoff_id: str) -> StatusDocument:
    timeout = request.app.state.settings.status_query_timeout
    return await query_status(await temporal(request), kickoff_id, timeout)


# ---------------------------------------------------------------- signing in and out


async def sign_in_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    return sign_in_page(request, next_path, error=None)


async def sign_in(request: Request) -> Response:
    form = await request.form()
    next_path = safe_next(form.get("next"))
    if not same_token(sign_in_csrf(request), form.get("csrf")):
        return sign_in_page(request, next_path, error=FORM_EXPIRED, status_code=403)
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address)
    if wait is not None:
        error = f"Too many failed sign-ins from your address; try again in {wait_text(wait)}."
        response = sign_in_page(request, next_path, error=error, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response
    token = form.get("token")
    reviewer = identify(request.app.state.settings, token) if isinstance(token, str) else None
    if reviewer is None or not isinstance(token, str):
        failures = throttle.failed(address)
        log.warning("inbox sign-in refused from %s (%d failed recently)", address, failures)
        error = "That token is not one this API accepts."
        return sign_in_page(request, next_path, error=error, status_code=403)
    session = new_session(reviewer, token)
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(
        request,
        response,
        SESSION_COOKIE,
        seal_session(request.app.state.box, session),
        SESSION_SECONDS,
    )
    clear_cookie(request, response, SIGN_IN_COOKIE)
    return response


def wait_text(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{seconds} seconds" if seconds < 120 else f"{minutes} minutes"


def sign_in_page(
    request: Request, next_path: str, error: str | None, status_code: int = 200
) -> Response:
    csrf = secrets.token_urlsafe(24)
    response = page(
        "sign_in.html",
        status_code,
        session=current_session(request),
        csrf=csrf,
        next_path=next_path,
        error=error,
    )
    sealed = seal_sign_in(request.app.state.box, csrf)
    set_cookie(request, response, SIGN_IN_COOKIE, sealed, SIGN_IN_SECONDS)
    return response


async def sign_out(request: Request) -> Response:
    session = current_session(request)
    form = await request.form()
    if session is not None and not same_token(session.csrf, form.get("csrf")):
        return error_page(session, 403, FORM_EXPIRED)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


def to_sign_in(request: Request, next_path: str) -> Response:
    """Where a request without a session goes. A link followed from another site arrives
    without the SameSite=Strict cookie even when the reviewer is signed in, so it gets a
    same-site link to follow instead of a sign-in form."""
    if request.method == "GET" and request.headers.get("sec-fetch-site") == "cross-site":
        return page("continue.html", session=None, target=next_path)
    return RedirectResponse(f"/ui/sign-in?{urlencode({'next': next_path})}", status_code=303)


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(value: object) -> str:
    """Only a path of the inbox itself: never another site after sign-in."""
    if not isinstance(value, str) or not value.startswith("/ui") or "\\" in value:
        return "/ui"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/ui"


# ---------------------------------------------------------------- failures


async def temporal(request: Request) -> Client:
    return await request.app.state.temporal.client()


def failure(err: ApiError | RPCError) -> tuple[int, str]:
    if isinstance(err, ApiError):
        return err.status, err.message
    if err.status == RPCStatusCode.NOT_FOUND:
        return 409, f"the run is no longer open: {err.message}"
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return 422, f"Temporal refused it: {err.message}"
    return 503, f"Temporal: {err.message}"


def error_page(session: Session | None, status_code: int, message: str) -> Response:
    return page("error.html", status_code, session=session, message=message)
