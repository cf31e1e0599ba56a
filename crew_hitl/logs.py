"""One log format for every process of the service, with secrets taken out of every line."""

from __future__ import annotations

import logging
from collections.abc import Iterable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Replaces each secret wherever it appears in a formatted line, traceback included:
    libraries log what a model endpoint answered, and some endpoints echo the key."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(FORMAT)
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, "[redacted]")
        return line


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    formatter = RedactingFormatter(secrets)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
    # httpx logs every request URL at INFO; webhook URLs may carry credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
