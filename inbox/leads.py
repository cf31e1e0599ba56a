"""/ui/leads: the review queue as pictures for reviewers' leads. Runs waiting per crew with the
oldest wait, the time from request to decision per day, and the rejection rate per crew and
task over the last days, each chart drawn on the server (inbox/charts.py) from what Temporal
holds (inbox/review_queue.py, inbox/review_stats.py).

Any signed-in reviewer may see it: it shows counts and times of the runs the inbox already
lists to every reviewer, and no output, feedback or reviewer name."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from api.dependencies import ServicesDep
from api.errors import status_of
from api.failures import Failure
from inbox.charts import Bar, bar_chart, day_chart, duration_text
from inbox.pages import here, page, to_sign_in
from inbox.review_queue import MAX_RUNS, read_queue
from inbox.review_stats import (
    CrewQueue,
    TaskRejections,
    queue_per_crew,
    rejections_per_task,
    times_to_decision,
    window_days,
    window_start,
)
from inbox.sessions import SignedIn

router = APIRouter()
DEFAULT_DAYS = 14
MAX_DAYS = 60
DAY_CHOICES = (7, 14, 30, 60)
DIGITS = re.compile(r"[0-9]{1,3}")


def days_of(value: str | None) -> int:
    if value and DIGITS.fullmatch(value) and 1 <= int(value) <= MAX_DAYS:
        return int(value)
    return DEFAULT_DAYS


@router.get("/leads")
async def leads(request: Request, session: SignedIn, services: ServicesDep) -> Response:
    if session is None:
        return to_sign_in(request, here(request))
    days = days_of(request.query_params.get("days"))
    now = datetime.now(UTC)
    since = window_start(now.date(), days)
    context = {"session": session, "nav": "leads", "days": days, "day_choices": DAY_CHOICES}
    try:
        snapshot = await read_queue(services.gateway, services.finished_runs, since)
    except Failure as err:
        return page("leads.html", status_of(err), snapshot=None, notice=err.message, **context)
    queues = queue_per_crew(snapshot.waiting)
    per_day = times_to_decision(snapshot.decisions, window_days(now.date(), days))
    rejections = rejections_per_task(snapshot.decisions, since)
    return page(
        "leads.html",
        snapshot=snapshot,
        notice=None,
        max_runs=MAX_RUNS,
        queues=queues,
        per_day=per_day,
        rejections=rejections,
        now=now,
        time_chart=day_chart(f"Time to decision, last {days} days", per_day),
        **charts(queues, rejections, now),
        **context,
    )


def waiting_bars(queues: list[CrewQueue], now: datetime) -> list[Bar]:
    bars = []
    for queue in queues:
        oldest = (now - queue.oldest_since).total_seconds() if queue.oldest_since else None
        runs = "run" if queue.waiting == 1 else "runs"
        title = f"{queue.crew}: {queue.waiting} {runs} waiting"
        value_text = str(queue.waiting)
        if oldest is not None:
            title += f", the oldest for {duration_text(oldest)}"
            value_text += f" · oldest {duration_text(oldest)}"
        bars.append(Bar(queue.crew, queue.waiting, value_text, title))
    return bars


def rejection_bars(rows: list[TaskRejections]) -> list[Bar]:
    return [
        Bar(
            label=f"{row.crew} · {row.task_id}",
            value=row.rate,
            value_text=f"{row.rate:.0%} ({row.rejections}/{row.decisions})",
            title=(
                f"{row.crew} · {row.task_id}: {row.rejections} of {row.decisions} "
                f"decisions rejected ({row.rate:.0%})"
            ),
        )
        for row in rows
    ]


def charts(
    queues: list[CrewQueue], rejections: list[TaskRejections], now: datetime
) -> dict[str, Markup]:
    return {
        "waiting_chart": bar_chart("Runs waiting per crew", waiting_bars(queues, now), "waiting"),
        "rejection_chart": bar_chart(
            "Rejection rate per task", rejection_bars(rejections), "rejections", top=1.0
        ),
    }
