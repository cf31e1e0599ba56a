"""What a continuation carries stays under Temporal's payload limit however the run grew."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from crew_hitl.contracts.history import (
    CrewRunInput,
    DeliverWebhookInput,
    ResumeSignal,
    TaskResult,
    WebhookTarget,
    WebhookTargets,
)
from crew_hitl.spec import load_crew
from workflows.continuation import CARRY_BUDGET_BYTES, CARRY_LEVELS, carried_state
from workflows.record import RunRecord

CREW = load_crew("long_review", Path(__file__).parent / "crews" / "long_review")
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def grown_record(rounds: int, output: str, feedback: str) -> tuple[CrewRunInput, RunRecord]:
    run = CrewRunInput(kickoff_id="k", crew=CREW.interpolated({"subject": "size"}))
    record = RunRecord(run)
    for number in range(1, rounds + 1):
        record.start_round("draft_task")
        record.record_output("draft_task", number, TaskResult(output=f"{number} {output}"))
        record.await_review("draft_task", number, output, NOW)
        record.log_event(f"msg_{number}", "human_input_requested", {"task_output": output})
        signal = ResumeSignal(task_id="draft_task", is_approve=False, human_feedback=feedback)
        record.decide(signal, NOW)
    return run, record


def carried_size(run: CrewRunInput, record: RunRecord, level: int, undelivered=()) -> int:
    carried = carried_state(record, WebhookTargets(), set(), list(undelivered), CARRY_LEVELS[level])
    return len(run.model_copy(update={"carried": carried}).model_dump_json().encode())


def first_fitting_level(run: CrewRunInput, record: RunRecord) -> int | None:
    for level in range(len(CARRY_LEVELS)):
        if carried_size(run, record, level) <= CARRY_BUDGET_BYTES:
            return level
    return None


def test_a_small_loop_carries_everything():
    run, record = grown_record(50, "short output", "short feedback")
    assert first_fitting_level(run, record) == 0
    carried = carried_state(record, WebhookTargets(), set(), [], CARRY_LEVELS[0])
    assert len(carried.events) == 50
    assert [r.feedback for r in carried.tasks[0].rounds] == ["short feedback"] * 50


def test_long_feedback_over_many_rounds_is_trimmed_until_it_fits():
    run, record = grown_record(1000, "o" * 500, "f" * 2000)
    assert carried_size(run, record, 0) > CARRY_BUDGET_BYTES
    level = first_fitting_level(run, record)
    assert level is not None and level > 0
    carried = carried_state(record, WebhookTargets(), set(), [], CARRY_LEVELS[level])
    rounds = carried.tasks[0].rounds
    assert len(rounds) == 1000, "every round is kept, with its decision"
    assert rounds[-1].feedback == "f" * 2000, "the latest feedback stays whole"
    assert rounds[0].feedback is not None and rounds[0].feedback.endswith("[...]")


def test_large_multibyte_outputs_count_in_bytes():
    run, record = grown_record(12, "字" * 85_000, "again")
    level = first_fitting_level(run, record)
    assert level is not None
    assert carried_size(run, record, level) <= CARRY_BUDGET_BYTES


def test_undelivered_events_are_always_carried_and_may_not_fit():
    run, record = grown_record(3, "x", "y")
    target = WebhookTarget(url="http://127.0.0.1:9/down")
    undelivered = [
        DeliverWebhookInput(target=target, webhook_id=f"msg_{n}", event="e", body={"o": "z" * 9000})
        for n in range(200)
    ]
    carried = carried_state(record, WebhookTargets(), set(), undelivered, CARRY_LEVELS[-1])
    assert len(carried.undelivered) == 200
    assert carried_size(run, record, len(CARRY_LEVELS) - 1, undelivered) > CARRY_BUDGET_BYTES
