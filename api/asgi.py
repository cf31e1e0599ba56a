"""An error answer sent by the API's pure ASGI middlewares, shaped as every other error."""

from __future__ import annotations

import json
from typing import Any


async def send_error(
    send: Any, status: int, error: str, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    payload = json.dumps({"error": error, "message": message, "detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
