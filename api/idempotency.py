"""Idempotency-Key: a client that retries a request after a timeout sends the same key, and
the retry is the same kickoff (one run, one kickoff_id) or the same decision (applied once,
answered as the first was). Keys belong to the caller: two reviewers' keys never meet."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request

from api.failures import InvalidRequest

MAX_KEY_LENGTH = 255
KICKOFFS = uuid.UUID("5b0c3f57-6a43-4f0e-9d1e-2f8c6c1c7a10")
DECISIONS = uuid.UUID("0d6f3c2e-8b1a-4c57-a5e9-93f4c1d27b68")


def key_parameter(what: str) -> dict[str, Any]:
    """The header's entry in the OpenAPI document."""
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "description": what,
        "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
    }


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if not key:
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(f"Idempotency-Key: at most {MAX_KEY_LENGTH} characters")
    return key


def kickoff_id_for(caller: str, key: str | None) -> str:
    """A new id, or with a key the same id for every retry of that kickoff."""
    return str(uuid.uuid4() if key is None else keyed(KICKOFFS, caller, key))


def decision_id_for(caller: str, key: str | None) -> str:
    """A new id, or with a key the same id for every retry of that decision."""
    return "dec_" + (uuid.uuid4() if key is None else keyed(DECISIONS, caller, key)).hex


def keyed(namespace: uuid.UUID, caller: str, key: str) -> uuid.UUID:
    return uuid.uuid5(namespace, f"{caller}\n{key}")
