"""The API fuzzed from its own OpenAPI document with schemathesis: no request gets a 5xx, and
every answer (status code, content type, body) is one the document declares.

Half of the generated requests are steered to what exists (the `research` crew with its
`topic`, runs the fuzzer started) so that they get past validation and reach real runs. Every
webhook URL the API would accept is first moved to the loopback receiver, so a fuzzed run
never calls anything off this machine. FUZZ_SEED=<n> replays one run of the fuzzer."""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from pydantic import TypeAdapter, ValidationError
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crew_hitl.contracts.history import URL_FIELDS
from crew_hitl.contracts.values import HttpUrl
from runner.stack import Stack
from support import TOKEN, WebhookReceiver

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
WEBHOOK_FIELDS = tuple(URL_FIELDS)
TASKS = ("research_task", "reporting_task")
TOKEN_HEADER = {"Authorization": f"Bearer {TOKEN}"}
TOPICS = ("AI Research", "", "{topic}", "\u202e\x07 <b>x</b> '; DROP TABLE runs; --")
URL = TypeAdapter(HttpUrl)
# Generated examples per operation and generation mode (positive and negative). Operations
# without parameters (GET /, GET /health) have nothing to make invalid.
FAST_EXAMPLES = 12
SLOW_EXAMPLES = 110


def confined(value: Any, hook_base: str) -> Any:
    """A webhook URL the API would accept, moved to the loopback receiver (path and query
    kept); anything else as it is, since the API refuses it."""
    try:
        url = URL.validate_json(json.dumps(value))
    except (ValidationError, TypeError, ValueError):
        return value
    return hook_base + (url.path or "/") + (f"?{url.query}" if url.query else "")


def confine_webhooks(body: Any, hook_base: str) -> None:
    if not isinstance(body, dict):
        return
    for name in WEBHOOK_FIELDS:
        if name in body:
            body[name] = confined(body[name], hook_base)
    for name in ("humanInputWebhook", "webhooks"):
        hook = body.get(name)
        if isinstance(hook, dict) and "url" in hook:
            hook["url"] = confined(hook["url"], hook_base)


def auth(rnd: random.Random) -> dict[str, str]:
    """Mostly the right token; sometimes a wrong one or none, which must be a documented 401."""
    pick = rnd.random()
    if pick < 0.04:
        return {}
    if pick < 0.08:
        return {"Authorization": "Bearer not-the-token"}
    return dict(TOKEN_HEADER)


def steer_kickoff(body: Any, rnd: random.Random) -> None:
    """The default crew (or `research` by name) with its one input, `topic`."""
    if not isinstance(body, dict):
        return
    if rnd.random() < 0.5:
        body.pop("crew", None)
    else:
        body["crew"] = "research"
    if not isinstance(body.get("inputs"), dict):
        body["inputs"] = {}
    if not isinstance(body["inputs"].get("topic"), str):
        body["inputs"]["topic"] = rnd.choice(TOPICS)


def failure_titles(failure: BaseException) -> list[str]:
    if isinstance(failure, BaseExceptionGroup):
        return [title for inner in failure.exceptions for title in failure_titles(inner)]
    return [getattr(failure, "title", None) or str(failure)[:200]]


@dataclass
class Fuzzer:
    """Sends generated cases to the live API and keeps what it saw."""

    api_url: str
    hook_base: str
    seed: int
    rnd: random.Random = field(init=False)
    session: requests.Session = field(default_factory=requests.Session)
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    # "operation, status: what is wrong" -> how often, and the curl command of the first
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rnd = random.Random(self.seed)

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def send(self, case: Case) -> None:
        self.steer(case)
        confine_webhooks(case.body, self.hook_base)
        label = case.operation.label
        self.sent[label] += 1
        try:
            response = case.call(
                base_url=self.api_url, session=self.session, headers=auth(self.rnd), timeout=30
            )
        except requests.RequestException as err:
            self.fail(case, f"{label}: no answer ({type(err).__name__})")
            return
        self.statuses[response.status_code] += 1
        self.remember(case, response)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as failure:
            for title in failure_titles(failure):
                self.fail(case, f"{label}, {response.status_code}: {title}")

    def steer(self, case: Case) -> None:
        """Point half of the cases at what exists, so that they reach the workflow."""
        rnd, path = self.rnd, case.operation.path
        if rnd.random() < 0.5:
            return
        if path == "/kickoff":
            steer_kickoff(case.body, rnd)
        elif path == "/inputs":
            case.query["crew"] = rnd.choice(["research", "strict_review"])
        elif path == "/resume" and self.runs and isinstance(case.body, dict):
            case.body["execution_id"] = rnd.choice(self.runs)
            case.body["task_id"] = rnd.choice(TASKS)
        elif path == "/status/{kickoff_id}" and self.runs:
            case.path_parameters["kickoff_id"] = rnd.choice(self.runs)
            case.query.pop("wait", None)  # a long-poll on a live run would take its full wait
        elif path == "/stop/{kickoff_id}" and self.runs:
            case.path_parameters["kickoff_id"] = rnd.choice(self.runs)
        elif path == "/events/{kickoff_id}" and self.stopped:
            # Only a finished run's stream ends; a live one's stays open.
            case.path_parameters["kickoff_id"] = rnd.choice(self.stopped)

    def remember(self, case: Case, response: requests.Response) -> None:
        if response.status_code != 200:
            return
        if case.operation.path == "/kickoff":
            self.runs.append(response.json()["kickoff_id"])
        elif case.operation.path == "/stop/{kickoff_id}":
            self.stopped.append(case.path_parameters["kickoff_id"])

    def fail(self, case: Case, key: str) -> None:
        count, example = self.failures.get(key, (0, ""))
        example = example or case.as_curl_command(base_url=self.api_url)[:600]
        self.failures[key] = (count + 1, example)

    def report(self) -> str:
        return "\n".join(
            f"{key} ({count}x)" + (f", e.g.\n  {example}" if example else "")
            for key, (count, example) in self.failures.items()
        )

    def check_runs(self) -> None:
        """What the API accepted, the worker could run: every run answers its status query,
        has not failed, and sent each webhook to the receiver."""
        for kickoff_id in sorted(set(self.runs)):
            status = self.settled_status(kickoff_id)
            if status["degraded"] or status["state"] == "FAILED":
                problem = status["degraded"] or status["error"]
                self.failures[f"run {kickoff_id} {status['state']}: {problem}"] = (1, "")
            for row in status["deliveries"]:
                if row["state"] == "gave_up" or row["last_error"]:
                    key = f"run {kickoff_id}: {row['event']} {row['state']}: {row['last_error']}"
                    self.failures[key] = (1, "")

    def settled_status(self, kickoff_id: str) -> dict[str, Any]:
        """The run's status, asked again a few times while no worker answers in time."""
        for _ in range(5):
            response = self.session.get(
                f"{self.api_url}/status/{kickoff_id}", headers=TOKEN_HEADER, timeout=30
            )
            status: dict[str, Any] = response.json()
            if not status["degraded"]:
                break
            time.sleep(1)
        return status

    def stop_all(self) -> None:
        """The fuzzer's runs would otherwise wait for a reviewer for as long as the session."""
        for kickoff_id in set(self.runs) - set(self.stopped):
            self.session.post(f"{self.api_url}/stop/{kickoff_id}", headers=TOKEN_HEADER, timeout=30)


def fuzz_operation(
    fuzzer: Fuzzer, operation: APIOperation, mode: GenerationMode, examples: int
) -> None:
    @seed(fuzzer.seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        fuzzer.send(case)

    # Unsatisfiable: nothing in the operation to make invalid (GET /, GET /health).
    with contextlib.suppress(Unsatisfiable):
        run()


def fuzz(fuzzer: Fuzzer, schema: BaseSchema, examples: int) -> float:
    """Every operation in the document, positive and negative cases; the seconds it took."""
    started = time.monotonic()
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(fuzzer, result.ok(), mode, examples)
    fuzzer.check_runs()
    return time.monotonic() - started


@pytest.fixture(scope="module")
def schema(stack: Stack) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{stack.settings.api_url}/openapi.json")


@pytest.fixture
def fuzzer(stack: Stack, receiver: WebhookReceiver) -> Iterator[Fuzzer]:
    fuzz_seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
    running = Fuzzer(stack.settings.api_url, receiver.url("/fuzz"), fuzz_seed)
    try:
        yield running
    finally:
        running.stop_all()
        running.session.close()


def check_fuzzing(
    fuzzer: Fuzzer, took: float, least: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print(
            f"\nfuzz: {fuzzer.total} requests in {took:.1f}s (FUZZ_SEED={fuzzer.seed}),"
            f" {len(fuzzer.runs)} runs started, statuses {dict(sorted(fuzzer.statuses.items()))}"
        )
    assert not fuzzer.failures, fuzzer.report()
    assert fuzzer.total >= least
    assert fuzzer.runs, "no generated kickoff got past validation"
    assert fuzzer.statuses[200] > fuzzer.total // 10


def test_fuzz_the_api(fuzzer, schema, capsys):
    took = fuzz(fuzzer, schema, FAST_EXAMPLES)
    check_fuzzing(fuzzer, took, 90, capsys)


@pytest.mark.slow
def test_fuzz_the_api_at_length(fuzzer, schema, capsys):
    took = fuzz(fuzzer, schema, SLOW_EXAMPLES)
    check_fuzzing(fuzzer, took, 1000, capsys)
