"""A task's review policy, the `review:` block beside `human_input: true` in tasks.yaml: who
may decide, how many approvals a round needs, and what happens when nobody answers. CrewAI
ignores the block, so one tasks.yaml serves both. A policy that cannot work is refused when
the crew loads."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
SECONDS_PER = {"s": 1, "m": 60, "h": 3600, "d": 86400}
ReviewerName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
OnTimeout = Literal["approve", "reject", "fail"]
# The name of a bare token: an operator's, who may decide any run.
OPERATOR = "api"


def seconds_of(duration: str) -> float:
    """`30m` as 1800.0: a number with s, m, h or d."""
    match = DURATION.match(duration.strip())
    if match is None:
        raise ValueError(f"{duration!r} is not a duration: give a number with s, m, h or d")
    return float(match.group(1)) * SECONDS_PER[match.group(2)]


class ReviewPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Named tokens that may decide (empty: anyone); a bare token (an operator's) always may.
    reviewers: list[ReviewerName] = []
    approvals: int = Field(default=1, ge=1)
    remind_after: str | None = None
    escalate_after: str | None = None
    escalate_to: list[ReviewerName] = []
    decide_within: str | None = None
    on_timeout: OnTimeout | None = None
    # Whether an approval may replace the output with an edited text.
    allow_edit: bool = True

    @field_validator("remind_after", "escalate_after", "decide_within")
    @classmethod
    def _is_a_duration(cls, value: str | None) -> str | None:
        if value is not None:
            seconds_of(value)
        return value

    @model_validator(mode="after")
    def _can_work(self) -> ReviewPolicy:
        if self.reviewers and self.approvals > len(self.reviewers):
            raise ValueError(
                f"approvals: {self.approvals} needed but only {len(self.reviewers)} reviewers"
            )
        if bool(self.escalate_after) != bool(self.escalate_to):
            raise ValueError("escalate_after and escalate_to go together")
        if bool(self.decide_within) != bool(self.on_timeout):
            raise ValueError("decide_within and on_timeout go together")
        deadline = self.decide_within_seconds
        for name in ("remind_after", "escalate_after"):
            after = self.seconds(name)
            if deadline is not None and after is not None and after >= deadline:
                raise ValueError(f"{name} is not before decide_within ({self.decide_within})")
        return self

    def seconds(self, name: str) -> float | None:
        value = getattr(self, name)
        return None if value is None else seconds_of(value)

    @property
    def decide_within_seconds(self) -> float | None:
        return self.seconds("decide_within")

    def deciders(self, escalated: bool) -> list[str]:
        return [*self.reviewers, *(self.escalate_to if escalated else [])]
