"""Bearer-token authentication with a constant-time comparison. Each token names its
reviewer (`alice:tok-a`); a bare token is `api`."""

from __future__ import annotations

import hmac

from crew_hitl.settings import Settings


def reviewer_for(given: str, tokens: list[tuple[str, str]]) -> str | None:
    """The name the token belongs to, or None. Every token is compared, so timing says
    nothing about which one came close."""
    found: str | None = None
    for name, token in tokens:
        if (
            hmac.compare_digest(given.encode(errors="surrogatepass"), token.encode())
            and found is None
        ):
            found = name
    return found


def identify(settings: Settings, given: str) -> str | None:
    """The reviewer a token (from a header or the inbox's cookie) signs in as, or None."""
    given = given.strip()
    return reviewer_for(given, settings.tokens()) if given else None


def bearer_reviewer(settings: Settings, authorization: str) -> str | None:
    """The reviewer an `Authorization: Bearer <token>` header names, or None."""
    scheme, _, given = authorization.partition(" ")
    return identify(settings, given) if scheme.lower() == "bearer" else None
