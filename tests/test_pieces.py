"""Small pure pieces: URL redaction, sealing, the offline executor."""

from __future__ import annotations

import json
import shlex

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from activities.offline import run_offline
from activities.retry_after import retry_after_seconds
from crew_hitl.contracts.history import ContextItem, ExecuteTaskInput
from crew_hitl.contracts.http import KickoffRequest
from crew_hitl.contracts.status import PendingHumanInput, TokenUsage
from crew_hitl.secrets import SealError, SecretBox
from crew_hitl.settings import Settings
from crew_hitl.spec import AgentSpec, TaskSpec
from crew_hitl.targets import display_url, sealed_target
from inbox.diff import word_diff
from workflows.details import decision_commands
from workflows.stream import MAX_TEXT, cut_texts


@pytest.mark.parametrize(
    "url,shown",
    [
        ("https://user:pw@hooks.example:8443/h?token=abc#x", "https://hooks.example:8443/…"),
        ("http://127.0.0.1:9000/path", "http://127.0.0.1:9000/…"),
        ("http://[::1]:80/a?b=c", "http://[::1]:80/…"),
        ("https://hooks.slack.com/services/T0/B1/s3cr3tPath", "https://hooks.slack.com/…"),
        ("https://discord.com/api/webhooks/42/tok3nPath", "https://discord.com/…"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/"),
    ],
)
def test_display_url_shows_scheme_and_host_and_a_hash_of_the_rest(url, shown):
    displayed = display_url(url)
    assert displayed.startswith(shown)
    for secret in ("pw", "token=abc", "s3cr3tPath", "tok3nPath", "/path", "b=c"):
        assert secret not in displayed


def test_endpoints_that_differ_only_by_query_are_told_apart():
    box = SecretBox(Fernet.generate_key())
    first = sealed_target(box, "https://h.example/hook?team=a")
    second = sealed_target(box, "https://h.example/hook?team=b")
    assert first.url != second.url and first.endpoint != second.endpoint


def test_sealed_target_opens_only_with_its_key():
    box = SecretBox(Fernet.generate_key())
    target = sealed_target(box, "https://h.example/x?k=1", {"strategy": "bearer", "token": "t0k"})
    assert target.url.startswith("https://h.example/…")
    assert "t0k" not in target.model_dump_json()
    assert box.open(target.sealed or "") == {
        "url": "https://h.example/x?k=1",
        "headers": {"Authorization": "Bearer t0k"},
    }
    with pytest.raises(SealError):
        SecretBox(Fernet.generate_key()).open(target.sealed or "")


def test_offline_output_quotes_every_feedback_verbatim():
    task_input = ExecuteTaskInput(
        kickoff_id="k",
        crew_name="c",
        task=TaskSpec(name="t", description="Write about bees.", agent="a", human_input=True),
        agent=AgentSpec(name="a", role="Bee expert"),
        context=[ContextItem(task_id="earlier", output="first line\nsecond")],
        feedback=['Add "sources"', "Shorter <b>please</b>"],
        round=3,
    )
    result = run_offline(task_input)
    assert '1. "Add "sources""' in result.output
    assert '2. "Shorter <b>please</b>"' in result.output
    assert "- earlier: first line" in result.output
    assert result.steps[0].result == result.output
    assert run_offline(task_input).output == result.output


@pytest.mark.parametrize(
    "header,expected",
    [
        ("2", 2.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("inf", 3600.0),
        ("nan", None),
        ("Wed, 21 Oct 2099 07:28:00 GMT", 3600.0),
        ("Wed, 21 Oct 2015 07:28:00 -0000", None),  # a naive date: use the schedule
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_is_parsed_and_capped(header, expected):
    assert retry_after_seconds(header, ceiling=3600.0) == expected


def test_unknown_executor_is_refused_at_load():
    with pytest.raises(ValueError, match="unknown executor 'shell'"):
        AgentSpec(name="a", executor="shell")


def test_a_bad_retry_schedule_is_refused_at_start():
    with pytest.raises(ValueError, match="seconds separated by commas"):
        Settings(webhook_retry_schedule="5,soon")


def test_null_token_counts_from_a_model_endpoint_count_as_zero():
    usage = TokenUsage.model_validate(
        {"prompt_tokens": None, "completion_tokens": 7, "total_tokens": None}
    )
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (0, 7, 0)


def test_the_web_uis_commands_survive_a_run_id_with_spaces_and_quotes():
    odd = "ops re-run 'nightly' \"x\""
    pending = PendingHumanInput(task_id="research_task", round=2)
    commands = decision_commands(odd, pending, "http://127.0.0.1:8000/resume")
    signal = shlex.split(commands[1].split("`")[1])
    assert signal[signal.index("--workflow-id") + 1] == odd
    sent = json.loads(signal[signal.index("--input") + 1])
    assert sent == {
        "task_id": "research_task",
        "is_approve": False,
        "round": 2,
        "human_feedback": "what to change",
    }
    curl = shlex.split(commands[3].split("`")[1])
    assert json.loads(curl[curl.index("-d") + 1])["execution_id"] == odd


@pytest.mark.parametrize(
    "setting,value",
    [
        ("webhook_timeout", "inf"),
        ("status_query_timeout", "0"),
        ("llm_timeout", "nan"),
        ("llm_timeout", "900"),  # would be cut by the round's 600 s limit
        ("webhook_retry_schedule", "5,inf"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_start(setting, value):
    with pytest.raises(ValidationError, match=setting):
        Settings.from_env({f"CREW_HITL_{setting.upper()}": value})


def test_a_kickoffs_fingerprint_leaves_out_what_it_did_not_use():
    """An Idempotency-Key's fingerprint: ignored fields and an absent `webhooks` (added later)
    leave it as it was, so a retry across the upgrade still matches its first attempt."""
    plain = KickoffRequest.model_validate({"inputs": {"topic": "x"}})
    extra = KickoffRequest.model_validate({"inputs": {"topic": "x"}, "restoreFromStateId": "s"})
    assert plain.known_fields_json() == extra.known_fields_json()
    assert json.loads(plain.known_fields_json()) == {
        "taskWebhookUrl": None,
        "stepWebhookUrl": None,
        "crewWebhookUrl": None,
        "inputs": {"topic": "x"},
        "crew": None,
        "meta": None,
        "humanInputWebhook": None,
    }
    streamed = KickoffRequest.model_validate(
        {"inputs": {"topic": "x"}, "webhooks": {"url": "https://hooks.example/s"}}
    )
    assert "webhooks" in json.loads(streamed.known_fields_json())


def test_streamed_event_data_has_its_long_texts_cut():
    long = "x" * (MAX_TEXT + 10)
    cut = cut_texts({"output": {"raw": long, "json_dict": {"k": [long]}}, "round": 2})
    assert cut["output"]["raw"] == "x" * MAX_TEXT + " [...]"
    assert cut["output"]["json_dict"]["k"][0] == "x" * MAX_TEXT + " [...]"
    assert cut["round"] == 2


def test_a_word_diff_marks_removed_and_added_words_and_escapes_the_rest():
    changes = str(word_diff("The <b>old</b> plan works.", "The <b>new</b> plan works well."))
    assert changes == (
        "The <del>&lt;b&gt;old&lt;/b&gt; </del><ins>&lt;b&gt;new&lt;/b&gt; </ins>"
        "plan <del>works.</del><ins>works well.</ins>"
    )
    assert str(word_diff("same", "same")) == "same"


def test_who_may_decide_a_waiting_round():
    named = PendingHumanInput(task_id="t", reviewers=["alice", "dave"])
    assert named.may_decide("alice") and named.may_decide("dave")
    assert not named.may_decide("bob")
    assert named.may_decide("api"), "an operator's bare token decides any round"
    assert named.may_decide(None), "a decision sent to Temporal without a name is taken"
    assert PendingHumanInput(task_id="t").may_decide("bob"), "no named reviewers: anyone"
