"""The leads' page's arithmetic and drawing, without a stack: status documents in, chart data
and SVG out."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest

from crew_hitl.contracts.status import (
    PendingHumanInput,
    ReviewRound,
    RunState,
    StatusDocument,
    TaskProgress,
    Verdict,
)
from inbox.charts import Bar, bar_chart, day_chart, duration_text
from inbox.finished_runs import FinishedRuns
from inbox.review_stats import (
    DayTimes,
    Decision,
    WaitingRun,
    decisions_of,
    percentile,
    queue_per_crew,
    rejections_per_task,
    times_to_decision,
    waiting_of,
    window_days,
    window_start,
)

START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
EVIL = '<script>alert("crew")</script>&amp;'


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def decided(number: int, minutes: float, verdict: Verdict) -> ReviewRound:
    return ReviewRound(round=number, output="o", decision=verdict, decided_at=at(minutes))


def run(tasks: list[TaskProgress], pending: PendingHumanInput | None = None) -> StatusDocument:
    return StatusDocument(
        kickoff_id="k",
        crew="research",
        state=RunState.PENDING_HUMAN_INPUT if pending else RunState.SUCCESS,
        tasks=tasks,
        pending_human_input=pending,
        started_at=START,
    )


def decision(crew: str, task: str, asked: float, answered: float, verdict: Verdict) -> Decision:
    return Decision(crew, task, 1, at(asked), at(answered), verdict)


def test_a_decided_rounds_request_is_rebuilt_from_the_runs_clock():
    # A task without review runs 2 min; the reviewed task's two rounds ran 6 min together
    # (3 each): round 1 asks at 5, is rejected at 20; round 2 asks at 23, approved at 30.
    status = run(
        [
            TaskProgress(task_id="gather", agent="a", execution_time=120),
            TaskProgress(
                task_id="write",
                agent="a",
                execution_time=360,
                rounds=[decided(1, 20, Verdict.REJECTED), decided(2, 30, Verdict.APPROVED)],
            ),
        ]
    )
    found = decisions_of(status)
    assert [(d.task_id, d.round, d.verdict) for d in found] == [
        ("write", 1, Verdict.REJECTED),
        ("write", 2, Verdict.APPROVED),
    ]
    assert [d.requested_at for d in found] == [at(5), at(23)]
    assert [d.seconds for d in found] == [15 * 60, 7 * 60]
    assert {d.crew for d in found} == {"research"}


def test_a_round_that_kept_its_request_time_is_taken_at_its_word():
    kept = decided(1, 20, Verdict.APPROVED).model_copy(update={"requested_at": at(12)})
    status = run([TaskProgress(task_id="write", agent="a", execution_time=60, rounds=[kept])])
    [found] = decisions_of(status)
    assert (found.requested_at, found.seconds) == (at(12), 8 * 60)


def test_the_pending_round_is_waiting_not_decided():
    pending = PendingHumanInput(task_id="write", round=2, since=at(25))
    status = run(
        [
            TaskProgress(
                task_id="write",
                agent="a",
                execution_time=60,
                rounds=[decided(1, 20, Verdict.REJECTED), ReviewRound(round=2, output="o")],
            ),
            TaskProgress(task_id="later", agent="a"),
        ],
        pending,
    )
    assert [d.round for d in decisions_of(status)] == [1]
    assert waiting_of(status) == WaitingRun("research", at(25))
    assert waiting_of(run([])) is None


def test_a_request_is_never_after_its_decision():
    status = run(
        [
            TaskProgress(
                task_id="t", agent="a", execution_time=600, rounds=[decided(1, 1, Verdict.APPROVED)]
            )
        ]
    )
    [only] = decisions_of(status)
    assert only.requested_at == only.decided_at


def test_a_run_without_a_start_says_nothing():
    status = run([TaskProgress(task_id="t", agent="a", rounds=[decided(1, 1, Verdict.APPROVED)])])
    assert decisions_of(status.model_copy(update={"started_at": None})) == []


def test_the_longest_queue_first_with_its_oldest_wait():
    waiting = [
        WaitingRun("b", at(10)),
        WaitingRun("a", at(30)),
        WaitingRun("b", at(5)),
        WaitingRun("b", None),
        WaitingRun("c", None),
    ]
    queues = queue_per_crew(waiting)
    assert [(q.crew, q.waiting, q.oldest_since) for q in queues] == [
        ("b", 3, at(5)),
        ("a", 1, at(30)),
        ("c", 1, None),
    ]


@pytest.mark.parametrize(
    "values,share,expected",
    [
        ([], 0.5, None),
        ([7.0], 0.9, 7.0),
        ([4.0, 1.0, 3.0, 2.0], 0.5, 2.0),
        ([*range(1, 11)], 0.9, 9),
    ],
)
def test_percentile_by_nearest_rank(values, share, expected):
    assert percentile(values, share) == expected


def test_time_to_decision_per_day_over_the_window():
    today = date(2025, 3, 11)
    days = window_days(today, 3)
    assert days == [date(2025, 3, 9), date(2025, 3, 10), date(2025, 3, 11)]
    assert window_start(today, 3) == datetime(2025, 3, 9, tzinfo=UTC)
    decisions = [
        decision("c", "t", 0, 10, Verdict.APPROVED),  # 3-10: 10 min
        decision("c", "t", 0, 30, Verdict.REJECTED),  # 3-10: 30 min
        decision("c", "t", 0, 20, Verdict.APPROVED),  # 3-10: 20 min
        decision("c", "t", 60 * 24, 60 * 24 + 5, Verdict.APPROVED),  # 3-11: 5 min
        decision(
            "c", "t", -60 * 24 * 5, 0, Verdict.APPROVED
        ),  # asked 5 days earlier: counts on 3-10
        decision("c", "t", -60 * 24 * 3, -60 * 24 * 2, Verdict.APPROVED),  # 3-08: outside
    ]
    rows = times_to_decision(decisions, days)
    assert [(r.day, r.decisions) for r in rows] == [
        (date(2025, 3, 9), 0),
        (date(2025, 3, 10), 4),
        (date(2025, 3, 11), 1),
    ]
    assert rows[0].median_seconds is None and rows[0].p90_seconds is None
    assert rows[1].median_seconds == 20 * 60
    assert rows[1].p90_seconds == 60 * 24 * 5 * 60
    assert rows[2].median_seconds == rows[2].p90_seconds == 5 * 60


def test_rejection_rate_per_crew_and_task_since_the_window_began():
    decisions = [
        decision("research", "draft", 0, 1, Verdict.REJECTED),
        decision("research", "draft", 0, 2, Verdict.APPROVED),
        decision("research", "check", 0, 3, Verdict.APPROVED),
        decision("legal", "draft", 0, 4, Verdict.REJECTED),
        decision("legal", "draft", 0, -10, Verdict.APPROVED),  # before `since`
    ]
    rows = rejections_per_task(decisions, since=at(0))
    assert [(r.crew, r.task_id, r.rejections, r.decisions) for r in rows] == [
        ("legal", "draft", 1, 1),
        ("research", "draft", 1, 2),
        ("research", "check", 0, 1),
    ]
    assert [r.rate for r in rows] == [1.0, 0.5, 0.0]


def test_finished_runs_keep_the_most_recently_used():
    kept = FinishedRuns(capacity=2)
    one = (decision("c", "t", 0, 1, Verdict.APPROVED),)
    kept.keep("r1", one)
    kept.keep("r2", ())
    assert kept.get("r1") == one  # r1 is now the most recently used
    kept.keep("r3", ())
    assert len(kept) == 2
    assert kept.get("r2") is None
    assert kept.get("r1") == one and kept.get("r3") == ()


# ---------------------------------------------------------------- drawing


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def test_a_bar_per_row_scaled_to_the_largest_with_names_kept_as_text():
    bars = [Bar(EVIL, 4, "4", f"{EVIL}: 4 waiting"), Bar("b", 1, "1", "b: 1 waiting")]
    markup = bar_chart("Runs waiting", bars, "waiting")
    assert "<script>" not in markup
    svg = parsed(markup)
    assert svg.tag == "svg" and svg.findtext("title") == "Runs waiting"
    groups = svg.findall("g")
    assert [g.get("data-label") for g in groups] == [EVIL, "b"]
    assert [g.findtext("title") for g in groups] == [f"{EVIL}: 4 waiting", "b: 1 waiting"]
    widths = [float(g.findall("rect")[1].get("width")) for g in groups]
    track = float(groups[0].findall("rect")[0].get("width"))
    assert widths == [track, track / 4]
    assert "style" not in markup


def test_bars_against_a_fixed_top():
    svg = parsed(bar_chart("Rates", [Bar("t", 0.5, "50 %", "t: 50 %")], "rejections", top=1.0))
    track, fill = svg.find("g").findall("rect")
    assert float(fill.get("width")) == float(track.get("width")) / 2


def test_a_column_per_day_with_its_numbers():
    days = [
        DayTimes(date(2025, 3, 9), 0, None, None),
        DayTimes(date(2025, 3, 10), 3, 120.0, 600.0),
        DayTimes(date(2025, 3, 11), 1, 300.0, 300.0),
    ]
    svg = parsed(day_chart("Time to decision", days))
    groups = svg.findall("g[@class='day']")
    assert [g.get("data-decisions") for g in groups] == ["0", "3", "1"]
    assert [g.findtext("title") for g in groups] == [
        "2025-03-09: no decisions",
        "2025-03-10: 3 decisions, median 2 min, p90 10 min",
        "2025-03-11: 1 decision, median 5 min, p90 5 min",
    ]
    assert groups[0].find("rect[@class='p90']") is None
    tallest = float(groups[1].find("rect[@class='p90']").get("height"))
    assert float(groups[1].find("rect[@class='median']").get("height")) == tallest / 5
    assert float(groups[2].find("rect[@class='p90']").get("height")) == tallest / 2


@pytest.mark.parametrize(
    "seconds,text",
    [
        (None, "—"),
        (0.4, "0.40 s"),
        (4.25, "4.2 s"),
        (42, "42 s"),
        (150, "2 min"),
        (5400, "1.5 h"),
        (172800, "2.0 d"),
    ],
)
def test_durations_read_as_people_say_them(seconds, text):
    assert duration_text(seconds) == text
