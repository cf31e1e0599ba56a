"""Signing in to the inbox with an API token, and out again."""

from __future__ import annotations

import logging
import math
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from api.auth import identify
from api.dependencies import AppSettings, Box, SignedOut, Throttle
from crew_hitl.secrets import SecretBox
from inbox.pages import FORM_EXPIRED, error_page, page
from inbox.sessions import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    SIGN_IN_COOKIE,
    SIGN_IN_SECONDS,
    Session,
    SignedIn,
    clear_cookie,
    new_session,
    same_token,
    seal_session,
    seal_sign_in,
    set_cookie,
    sign_in_csrf,
)

log = logging.getLogger("crew_hitl.inbox")
router = APIRouter()


@router.get("/sign-in")
async def sign_in_form(request: Request, session: SignedIn, box: Box) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    return sign_in_page(request, box, session, next_path, error=None)


@router.post("/sign-in")
async def sign_in(
    request: Request, session: SignedIn, box: Box, settings: AppSettings, throttle: Throttle
) -> Response:
    form = await request.form()
    next_path = safe_next(form.get("next"))
    if not same_token(sign_in_csrf(request, box), form.get("csrf")):
        return sign_in_page(request, box, session, next_path, FORM_EXPIRED, status_code=403)
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address)
    if wait is not None:
        error = f"Too many failed sign-ins from your address; try again in {wait_text(wait)}."
        response = sign_in_page(request, box, session, next_path, error, status_code=429)
        response.headers["Retry-After"] = str(wait)
        return response
    token = form.get("token")
    reviewer = identify(settings, token) if isinstance(token, str) else None
    if reviewer is None or not isinstance(token, str):
        failures = throttle.failed(address)
        log.warning("inbox sign-in refused from %s (%d failed recently)", address, failures)
        error = "That token is not one this API accepts."
        return sign_in_page(request, box, session, next_path, error, status_code=403)
    response = RedirectResponse(next_path, status_code=303)
    sealed = seal_session(box, new_session(reviewer, token))
    set_cookie(request, response, SESSION_COOKIE, sealed, SESSION_SECONDS)
    clear_cookie(request, response, SIGN_IN_COOKIE)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: SignedIn, signed_out: SignedOut) -> Response:
    form = await request.form()
    if session is not None and not same_token(session.csrf, form.get("csrf")):
        return error_page(session, 403, FORM_EXPIRED)
    if session is not None:
        # For good: a copy of this cookie is refused until it would have expired.
        signed_out.revoke(session.csrf, session.expires)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


def wait_text(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{seconds} seconds" if seconds < 120 else f"{minutes} minutes"


def sign_in_page(
    request: Request,
    box: SecretBox,
    session: Session | None,
    next_path: str,
    error: str | None,
    status_code: int = 200,
) -> Response:
    csrf = secrets.token_urlsafe(24)
    response = page(
        "sign_in.html",
        status_code,
        session=session,
        csrf=csrf,
        next_path=next_path,
        error=error,
    )
    set_cookie(request, response, SIGN_IN_COOKIE, seal_sign_in(box, csrf), SIGN_IN_SECONDS)
    return response


def safe_next(value: object) -> str:
    """Only a path of the inbox itself: never another site after sign-in."""
    if not isinstance(value, str) or not value.startswith("/ui") or "\\" in value:
        return "/ui"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/ui"
