"""Sealing of webhook credentials: encrypted in the API, opened only inside the delivery activity.

The key comes from CREW_HITL_SECRET_KEY or a file in the data dir, so neither Temporal history
nor /status ever holds a credential in plaintext.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secret.key"


class SealError(Exception):
    """A sealed value could not be opened (wrong key or tampered)."""


def load_or_create_key(configured: str, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    path.touch(mode=0o600)
    path.write_bytes(key)
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, value: dict[str, object]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, token: str) -> dict[str, object]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError) as err:
            raise SealError("sealed webhook credentials could not be opened") from err
