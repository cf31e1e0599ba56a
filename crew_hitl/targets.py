"""Webhook targets: the URL anyone may see, and the sealed URL and credentials only the
delivery activity opens."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crew_hitl.contracts.history import WebhookTarget
from crew_hitl.secrets import SecretBox


def display_url(url: str) -> str:
    """Scheme and host, and a short hash of the rest: safe for logs, history, /status and the
    Web UI. Services put the secret in the path (Slack's /services/T…/B…/secret, Discord's
    /api/webhooks/id/token), so the path is shown only as its hash; the hash still tells two
    endpoints of one host apart."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    rest = urlunsplit(("", "", parts.path, parts.query, ""))
    if rest in ("", "/"):
        return f"{parts.scheme}://{netloc}/"
    return f"{parts.scheme}://{netloc}/…{short_hash(rest)}"


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


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
    sealed = box.seal({"url": url, "headers": headers})
    return WebhookTarget(url=display_url(url), sealed=sealed, key=short_hash(url, 16))


def plain_target(url: str) -> WebhookTarget:
    """A URL given in a CLI signal: shown like a sealed one, called as given."""
    return WebhookTarget(url=display_url(url), plain=url, key=short_hash(url, 16))
