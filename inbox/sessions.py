"""The inbox's sign-in session: an HttpOnly, SameSite=Strict cookie sealed with the API's
SecretBox. It holds the reviewer's name, a fingerprint of the token they signed in with (so a
token taken out of CREW_HITL_API_TOKEN ends its sessions), the CSRF token of their forms and
an expiry; never the token itself.

Before sign-in a second, short-lived cookie carries the CSRF token of the sign-in form, so
that another site cannot sign a browser in under its own token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from api.dependencies import AppSettings, Box, SignedOut
from crew_hitl.secrets import SealError, SecretBox
from crew_hitl.settings import Settings

SESSION_COOKIE = "crew_hitl_session"
SIGN_IN_COOKIE = "crew_hitl_sign_in"
SESSION_SECONDS = 12 * 3600
SIGN_IN_SECONDS = 3600
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


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode(errors="surrogatepass")).hexdigest()


def new_session(reviewer: str, token: str) -> Session:
    return Session(
        reviewer=reviewer,
        csrf=secrets.token_urlsafe(24),
        token_fingerprint=fingerprint(token.strip()),
        expires=time.time() + SESSION_SECONDS,
    )


def seal_session(box: SecretBox, session: Session) -> str:
    return box.seal(
        {
            "purpose": SESSION_PURPOSE,
            "reviewer": session.reviewer,
            "csrf": session.csrf,
            "fp": session.token_fingerprint,
            "exp": session.expires,
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


def current_session(
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
    return Session(
        reviewer=reviewer, csrf=csrf, token_fingerprint=fp, expires=float(content["exp"])
    )


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
