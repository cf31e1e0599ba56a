"""Sessions signed out before they expire. A session is a sealed cookie, so a copy of it would
stay valid until its expiry; signing out records the session's id (a hash of its CSRF token,
which is unique to it) here until then, in memory and in the data dir, so that the copy is
refused too, also after the API restarts. API processes that do not share a data dir do not
share this list."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

FILE = "signed_out_sessions"


def session_id(csrf: str) -> str:
    return hashlib.sha256(csrf.encode()).hexdigest()[:32]


class Revocations:
    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / FILE
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        now = time.time()
        try:
            lines = self._path.read_text().splitlines()
        except OSError:
            return
        for line in lines:
            sid, _, until = line.partition(" ")
            try:
                if float(until) > now:
                    self._until[sid] = float(until)
            except ValueError:
                continue

    def revoke(self, csrf: str, until: float) -> None:
        sid = session_id(csrf)
        with self._lock:
            self._until[sid] = until
            now = time.time()
            self._until = {s: u for s, u in self._until.items() if u > now}
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._path.write_text("".join(f"{s} {u}\n" for s, u in self._until.items()))

    def revoked(self, csrf: str) -> bool:
        until = self._until.get(session_id(csrf))
        return until is not None and until > time.time()
