"""Server-rendered pages: the package's Jinja2 templates, autoescaped, and the headers every
page goes out with (a Content-Security-Policy that allows no inline script, no framing, and
nothing from another origin)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from crew_hitl.text import excerpt
from inbox.charts import duration_text
from inbox.render import markdown_html
from inbox.sessions import Session

FORM_EXPIRED = "This form expired or did not come from this site. Reload the page and try again."
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages carry the form's CSRF token and what reviewers read: keep them out of caches.
    "Cache-Control": "no-store",
}


def utc_time(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def time_left(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return ""
    seconds = int((moment - (now or datetime.now(UTC))).total_seconds())
    if seconds <= 0:
        return "due now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"in {seconds // size} {unit}"
    return f"in {seconds} s"


def digest(text: str) -> str:
    """What the decision form remembers of the output it showed: an edit is a text that
    differs from it (line ends as a browser sends them do not count)."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode(errors="surrogatepass")).hexdigest()


def path_segment(value: str) -> str:
    """A run id as one URL path segment: a '/' in it (possible from the CLI) is escaped too."""
    return quote(value, safe="")


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("inbox", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        markdown=markdown_html,
        excerpt=excerpt,
        utc=utc_time,
        ago=ago,
        left=time_left,
        digest=digest,
        segment=path_segment,
        duration=duration_text,
    )
    return env


TEMPLATES = _environment()


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def error_page(session: Session | None, status_code: int, message: str) -> HTMLResponse:
    return page("error.html", status_code, session=session, message=message)


def to_sign_in(request: Request, next_path: str) -> Response:
    """Where a request without a session goes. A link followed from another site arrives
    without the SameSite=Strict cookie even when the reviewer is signed in, so it gets a
    same-site link to follow instead of a sign-in form."""
    if request.method == "GET" and request.headers.get("sec-fetch-site") == "cross-site":
        return page("continue.html", session=None, target=next_path)
    return RedirectResponse(f"/ui/sign-in?{urlencode({'next': next_path})}", status_code=303)


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")
