"""The inbox's sign-in session: an HttpOnly, SameSite=Strict cookie sealed with the API's
SecretBox. It holds the reviewer's name, a fingerprint of the token they signed in with (so a
token taken out of CREW_HITL_API_TOKEN ends its sessions), the CSRF token of their forms, an
expiry and when it was last used; never the token itself. A session unused for
CREW_HITL_INBOX_IDLE_TIMEOUT ends; one in use is sealed again with the new time now and then
(request.state carries the new cookie to inbox/renewal.py, which sets it on the answer).

Before sign-in a second, short-lived cookie carries the CSRF token of the sign-in form, so
that another site cannot sign a browser in under its own token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request, Response

from api.dependencies import AppSettings, Box, SignedOut
from crew_hitl.secrets import SealError, SecretBox
from crew_hitl.settings import Settings

SESSION_COOKIE = "crew_hitl_session"
SIGN_IN_COOKIE = "crew_hitl_sign_in"
SESSION_SECONDS = 12 * 3600
SIGN_IN_SECONDS = 3600
# A session in use is sealed again with the time it was seen at most this often (or a quarter
# of the idle timeout, when that is shorter): not a new cookie on every page.
RENEW_AFTER_SECONDS = 60
# Where a renewed session's Set-Cookie waits in request.state for inbox/renewal.py.
RENEWED = "renewed_session"
COOKIE_PATH = "/ui"
# Sealed values of other kinds (webhook targets) can never pass for a session.
SESSION_PURPOSE = "inbox-session"
SIGN_IN_PURPOSE = "inbox-sign-in"


@dataclass(frozen=True)
class Session:
    reviewer: str
    csrf: str
    token_fingerprint: str
    expires: float
    seen: float


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode(errors="surrogatepass")).hexdigest()


def new_session(reviewer: str, token: str) -> Session:
    return Session(
        reviewer=reviewer,
        csrf=secrets.token_urlsafe(24),
        token_fingerprint=fingerprint(token.strip()),
        expires=time.time() + SESSION_SECONDS,
        seen=time.time(),
    )


def seal_session(box: SecretBox, session: Session) -> str:
    return box.seal(
        {
            "purpose": SESSION_PURPOSE,
            "reviewer": session.reviewer,
            "csrf": session.csrf,
            "fp": session.token_fingerprint,
            "exp": session.expires,
            "seen": session.seen,
        }
    )


def opened(box: SecretBox, value: str | None, purpose: str) -> dict[str, object] | None:
    """The sealed cookie's content when it is ours, of this purpose and not expired."""
    if not value:
        return None
    try:
        content = box.open(value)
    except SealError:
        return None
    if not isinstance(content, dict) or content.get("purpose") != purpose:
        return None
    expires = content.get("exp")
    if not isinstance(expires, int | float) or expires < time.time():
        return None
    return content


def still_configured(settings: Settings, reviewer: str, token_fingerprint: str) -> bool:
    return any(
        name == reviewer and hmac.compare_digest(fingerprint(token), token_fingerprint)
        for name, token in settings.tokens()
    )


# async: see api/dependencies.py for why no dependency is a plain `def`.
async def current_session(
    request: Request, box: Box, settings: AppSettings, signed_out: SignedOut
) -> Session | None:
    """The signed-in reviewer's session, or None (a dependency of every inbox page)."""
    content = opened(box, request.cookies.get(SESSION_COOKIE), SESSION_PURPOSE)
    if content is None:
        return None
    reviewer, csrf, fp = content.get("reviewer"), content.get("csrf"), content.get("fp")
    if not (isinstance(reviewer, str) and isinstance(csrf, str) and isinstance(fp, str)):
        return None
    if not still_configured(settings, reviewer, fp) or signed_out.revoked(csrf):
        return None
    expires = float(content["exp"])  # type: ignore[arg-type]  # opened() checked it
    seen = content.get("seen")
    seen = float(seen) if isinstance(seen, int | float) else expires - SESSION_SECONDS
    now = time.time()
    idle = settings.inbox_idle_timeout
    if now - seen > idle:
        return None
    session = Session(
        reviewer=reviewer, csrf=csrf, token_fingerprint=fp, expires=expires, seen=seen
    )
    if now - seen > min(RENEW_AFTER_SECONDS, idle / 4):
        session = replace(session, seen=now)
        sealed = seal_session(box, session)
        setattr(request.state, RENEWED, cookie_header(request, sealed, int(expires - now)))
    return session


def cookie_header(request: Request, sealed: str, max_age: int) -> bytes:
    """The Set-Cookie header of this session cookie, as set_cookie would add it."""
    carrier = Response()
    set_cookie(request, carrier, SESSION_COOKIE, sealed, max_age)
    return next(v for k, v in reversed(carrier.raw_headers) if k == b"set-cookie")


def sign_in_csrf(request: Request, box: SecretBox) -> str | None:
    """The CSRF token the sign-in form was given, from its cookie."""
    content = opened(box, request.cookies.get(SIGN_IN_COOKIE), SIGN_IN_PURPOSE)
    csrf = content.get("csrf") if content else None
    return csrf if isinstance(csrf, str) else None


def seal_sign_in(box: SecretBox, csrf: str) -> str:
    return box.seal(
        {"purpose": SIGN_IN_PURPOSE, "csrf": csrf, "exp": time.time() + SIGN_IN_SECONDS}
    )


def same_token(expected: str | None, given: object) -> bool:
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode(errors="surrogatepass"))


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


SignedIn = Annotated[Session | None, Depends(current_session)]
