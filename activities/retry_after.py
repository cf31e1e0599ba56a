"""A Retry-After header (RFC 9110: seconds, or an HTTP date) as seconds to wait. Shared by the
webhook deliveries and the model calls."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, ceiling: float) -> float | None:
    """Seconds to wait, at most `ceiling` (a peer may ask for a pause, not for work to be held
    for years); None when the header is missing or says nothing usable."""
    if not value:
        return None
    try:
        seconds: float | None = float(value)
    except ValueError:
        seconds = seconds_until(value)
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(0.0, seconds), ceiling)


def seconds_until(http_date: str) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
        return (when - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError, OverflowError):
        return None
