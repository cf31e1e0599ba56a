"""Sets the renewed session cookie (inbox/sessions.py) on the answer of the request that
renewed it, whatever the page: pure ASGI, so streamed answers pass through untouched. An
answer that sets the session cookie itself (sign-in, sign-out) keeps its own."""

from __future__ import annotations

from typing import Any

from inbox.sessions import RENEWED, SESSION_COOKIE

OWN_COOKIE = SESSION_COOKIE.encode() + b"="


class SessionRenewal:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/ui"):
            await self.app(scope, receive, send)
            return

        async def send_renewed(message: dict[str, Any]) -> None:
            renewed = scope.get("state", {}).get(RENEWED)
            if message["type"] == "http.response.start" and renewed:
                headers = list(message.get("headers", []))
                if not any(k == b"set-cookie" and v.startswith(OWN_COOKIE) for k, v in headers):
                    message = {**message, "headers": [*headers, (b"set-cookie", renewed)]}
            await send(message)

        await self.app(scope, receive, send_renewed)
