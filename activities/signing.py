"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
secret, so that a receiver can rotate keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"


class SecretFormatError(ValueError):
    pass


def parse_secrets(configured: str) -> list[bytes]:
    """`whsec_<base64>` secrets, comma-separated, as raw keys."""
    keys = []
    for item in (part.strip() for part in configured.split(",")):
        if not item:
            continue
        encoded = item.removeprefix(PREFIX)
        try:
            keys.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            raise SecretFormatError(
                "CREW_HITL_WEBHOOK_SECRET holds a value that is not whsec_<base64>"
            ) from None
    return keys


def signature_header(keys: list[bytes], webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )
