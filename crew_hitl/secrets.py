"""Sealing of webhook credentials: encrypted in the API, opened only inside the delivery activity.

The key comes from CREW_HITL_SECRET_KEY or a file in the data dir, so neither Temporal history
nor /status ever holds a credential in plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "secret.key"


class SealError(Exception):
    """A sealed value could not be opened (wrong key or tampered)."""


def load_or_create_key(configured: str, data_dir: Path) -> bytes:
    """The configured key, else the data dir's, made once. Safe when the API and the worker
    start at the same moment: the file appears whole (written aside, then linked) or not at
    all, and whoever links second reads the first one's key."""
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        aside = data_dir / f".{KEY_FILE}.{os.getpid()}"
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    return path.read_bytes().strip()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._mac_key = hashlib.sha256(b"crew-hitl fingerprint\n" + key).digest()

    def fingerprint(self, text: str) -> str:
        """A keyed hash: equal texts compare equal, and a low-entropy secret in the text
        cannot be guessed from it without the key."""
        return hmac.new(self._mac_key, text.encode(), hashlib.sha256).hexdigest()[:32]

    def seal(self, value: dict[str, object]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, token: str) -> dict[str, object]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError) as err:
            raise SealError("sealed webhook credentials could not be opened") from err
