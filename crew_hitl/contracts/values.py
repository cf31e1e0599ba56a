"""What a free-form value must be to travel in a Temporal payload, and the URL rules of
every webhook field: shared by the HTTP bodies and the payloads stored in history."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, UrlConstraints

HttpUrl = Annotated[AnyHttpUrl, UrlConstraints(allowed_schemes=["http", "https"], max_length=2083)]
# Free-form JSON (kickoff `inputs` and `meta`) travels inside Temporal payloads, which pydantic
# writes as UTF-8 and reads back with a recursion limit of about 200 levels. A lone surrogate
# ("\ud800" is valid JSON) or deeper nesting would fail the kickoff or, worse, start a run
# whose input the worker cannot read.
MAX_JSON_DEPTH = 32
NOT_UNICODE = "text that is not valid Unicode (a lone surrogate escape such as \\ud800)"


def free_json_problem(value: Any) -> str | None:
    """What keeps `value` out of a Temporal payload, if anything. Without recursion: a parsed
    body may nest deeper than Python's stack."""
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            pending.extend((key, level) for key in item)
            item = list(item.values())
        if isinstance(item, list):
            if level > MAX_JSON_DEPTH:
                return f"objects and lists nested more than {MAX_JSON_DEPTH} levels deep"
            pending.extend((child, level + 1) for child in item)
        elif isinstance(item, str) and not is_unicode(item):
            return NOT_UNICODE
    return None


def is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _payload_safe(value: dict[str, Any]) -> dict[str, Any]:
    problem = free_json_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _unicode_only(text: str) -> str:
    if not is_unicode(text):
        raise ValueError(NOT_UNICODE)
    return text


FreeJson = Annotated[dict[str, Any], AfterValidator(_payload_safe)]
# Text bound for a payload or a header: pydantic lets a lone surrogate through a plain `str`.
UnicodeText = Annotated[str, AfterValidator(_unicode_only)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
