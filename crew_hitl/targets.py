"""Webhook targets: the URL anyone may see, and the sealed URL and credentials only the
delivery activity opens."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crew_hitl.contracts.history import WebhookTarget
from crew_hitl.secrets import SecretBox


def display_url(url: str) -> str:
    """The URL without user info, query string or fragment: safe for logs and /status."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def authorization_header(auth: dict[str, Any] | None) -> str | None:
    if not auth:
        return None
    if auth.get("strategy") == "bearer":
        return f"Bearer {auth['token']}"
    if auth.get("strategy") == "basic":
        pair = f"{auth['username']}:{auth['password']}".encode()
        return "Basic " + base64.b64encode(pair).decode()
    return None


def sealed_target(box: SecretBox, url: str, auth: dict[str, Any] | None = None) -> WebhookTarget:
    header = authorization_header(auth)
    headers = {"Authorization": header} if header else {}
    return WebhookTarget(url=display_url(url), sealed=box.seal({"url": url, "headers": headers}))
