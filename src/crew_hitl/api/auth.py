"""Bearer-token authentication with a constant-time comparison."""

from __future__ import annotations

import hmac

from fastapi import Request

from crew_hitl.api.errors import ApiError


def token_matches(given: str, tokens: list[str]) -> bool:
    matched = False
    for token in tokens:
        # Compare against every token so timing says nothing about which one is close.
        matched |= hmac.compare_digest(given.encode(), token.encode())
    return matched


def require_token(request: Request) -> str:
    """FastAPI dependency: the caller's identity, or 401."""
    tokens: list[str] = request.app.state.settings.tokens()
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip() or not token_matches(given.strip(), tokens):
        raise ApiError(401, "a valid 'Authorization: Bearer <token>' header is required")
    return "api"
