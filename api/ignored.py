"""Top-level fields a request gave that this API does not know: accepted, logged and named in
the answer, so that a client sending a newer CrewAI field keeps working and can still see a
typo for what it is."""

from __future__ import annotations

import logging

from crew_hitl.contracts.http import Lenient

log = logging.getLogger("crew_hitl.api")


def ignored_fields(body: Lenient) -> list[str]:
    names = body.ignored_fields()
    if names:
        log.info("%s: ignored unknown fields %r", type(body).__name__, names)
    return names
