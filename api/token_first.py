"""The bearer token is checked before anything reads a request's body: an anonymous client
gets its 401 at once, without the API buffering or parsing what it sent. The routes check the
token again (the Caller dependency); this only makes the refusal come first."""

from __future__ import annotations

from typing import Any

from api.asgi import send_error
from api.auth import bearer_reviewer
from crew_hitl.settings import Settings

# Paths without a token: liveness, health, the API's own documents, the inbox (which signs
# reviewers in with a cookie of its own) and the metrics (CREW_HITL_METRICS_TOKEN's, if any).
OPEN_PATHS = frozenset(
    {"/", "/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
OPEN_PREFIXES = ("/ui/",)


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path == "/ui" or path.startswith(OPEN_PREFIXES)


class TokenFirst:
    """Pure ASGI middleware, outermost: 401 before the body is read."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if bearer_reviewer(self.settings, authorization) is not None:
            await self.app(scope, receive, send)
            return
        message = "a valid 'Authorization: Bearer <token>' header is required"
        await send_error(send, 401, "unauthorized", message, ((b"www-authenticate", b"Bearer"),))
