"""The llm executor: one call to an OpenAI-compatible `POST {base_url}/chat/completions`
(OpenAI, Ollama, vLLM, LM Studio, llama.cpp's server) per task round.

On a round after a rejection the model sees its previous output and every feedback so far
as messages of their own, verbatim, with an instruction to revise."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeat_while
from activities.metrics import (
    MODEL_BUSY,
    MODEL_OK,
    MODEL_REFUSED,
    MODEL_UNREACHABLE,
    ActivityMetrics,
)
from activities.retry_after import retry_after_seconds
from crew_hitl.contracts.history import AgentStep, ExecuteTaskInput, TaskResult
from crew_hitl.contracts.status import TokenUsage
from crew_hitl.settings import origin

FINAL_STATUSES = {400, 401, 403, 404, 422}
MAX_RETRY_AFTER = 300.0
REVISE = (
    "A reviewer rejected your previous output. Revise it so that it addresses every piece "
    "of feedback above, and answer with the complete revised output only."
)


def system_message(task_input: ExecuteTaskInput) -> str:
    agent = task_input.agent
    parts = [f"You are {agent.role or agent.name}."]
    if agent.goal:
        parts.append(f"Your goal: {agent.goal}")
    if agent.backstory:
        parts.append(agent.backstory)
    return "\n\n".join(parts)


def task_message(task_input: ExecuteTaskInput) -> str:
    task = task_input.task
    parts = [f"Task: {task.description}"]
    if task.expected_output:
        parts.append(f"Expected output: {task.expected_output}")
    for item in task_input.context:
        parts.append(f"Context from {item.task_id}:\n{item.output}")
    for note in task_input.notes:
        parts.append(f"Reviewer note on earlier work: {note}")
    return "\n\n".join(parts)


def build_messages(task_input: ExecuteTaskInput) -> list[dict[str, str]]:
    messages = [
        {"role": "system", "content": system_message(task_input)},
        {"role": "user", "content": task_message(task_input)},
    ]
    if task_input.previous_output is not None and task_input.feedback:
        messages.append({"role": "assistant", "content": task_input.previous_output})
        messages += [{"role": "user", "content": text} for text in task_input.feedback]
        messages.append({"role": "user", "content": REVISE})
    return messages


def request_body(task_input: ExecuteTaskInput, messages: list[dict[str, str]]) -> dict[str, Any]:
    agent = task_input.agent
    body: dict[str, Any] = {"model": agent.llm, "messages": messages}
    if agent.temperature is not None:
        body["temperature"] = agent.temperature
    if agent.max_tokens is not None:
        body["max_tokens"] = agent.max_tokens
    return body


def endpoint_said(response: httpx.Response, api_key: str) -> str:
    """What the endpoint answered, short and without the key (some echo part of it)."""
    try:
        error = response.json().get("error", {})
        text = error.get("message") if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        text = response.text
    text = (text or response.reason_phrase or "").strip()[:300]
    if api_key:
        text = text.replace(api_key, "[key]")
    return text


def retry_after(response: httpx.Response) -> timedelta | None:
    seconds = retry_after_seconds(response.headers.get("retry-after"), MAX_RETRY_AFTER)
    return None if seconds is None else timedelta(seconds=seconds)


async def run_llm(
    task_input: ExecuteTaskInput,
    http: httpx.AsyncClient,
    base_url: str,
    keys: dict[str, str],
    timeout: float,
    metrics: ActivityMetrics,
) -> TaskResult:
    model = task_input.agent.llm
    started = time.monotonic()
    try:
        result = await call_model(task_input, http, base_url, keys, timeout)
    except ApplicationError as err:
        outcome = MODEL_OUTCOMES.get(err.type or "", MODEL_REFUSED)
        metrics.model_call(model, outcome, time.monotonic() - started)
        raise
    metrics.model_call(model, MODEL_OK, time.monotonic() - started, result.token_usage)
    return result


# A failed call's outcome, by the error type call_model raises.
MODEL_OUTCOMES = {
    "ModelUnreachable": MODEL_UNREACHABLE,
    "ModelRefused": MODEL_REFUSED,
    "ModelBusy": MODEL_BUSY,
}


async def call_model(
    task_input: ExecuteTaskInput,
    http: httpx.AsyncClient,
    base_url: str,
    keys: dict[str, str],
    timeout: float,
) -> TaskResult:
    base = (task_input.agent.base_url or base_url).rstrip("/")
    messages = build_messages(task_input)
    api_key = keys.get(origin(base), "")  # only the key configured for this endpoint
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    where = f"the model endpoint {base}"
    try:
        response = await heartbeat_while(
            http.post(
                f"{base}/chat/completions",
                json=request_body(task_input, messages),
                headers=headers,
                timeout=timeout,
            )
        )
    except httpx.HTTPError as err:
        raise ApplicationError(
            f"{where} did not answer: {type(err).__name__}", type="ModelUnreachable"
        ) from None
    if response.status_code != 200:
        said = endpoint_said(response, api_key)
        message = f"{where} answered HTTP {response.status_code}: {said}"
        if response.status_code in FINAL_STATUSES:
            raise ApplicationError(message, type="ModelRefused", non_retryable=True)
        raise ApplicationError(message, type="ModelBusy", next_retry_delay=retry_after(response))
    return parse_completion(response, messages, where)


def parse_completion(response: httpx.Response, messages: list[dict[str, str]], where: str):
    try:
        data = response.json()
        output = data["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise ApplicationError(
            f"{where} answered without a chat completion", type="ModelRefused", non_retryable=True
        ) from None
    usage = TokenUsage.model_validate(data.get("usage") or {})
    step = AgentStep(
        kind="llm",
        prompt=json.dumps(messages, ensure_ascii=False),
        thought=f"{data.get('model', 'model')} answered ({usage.total_tokens} tokens)",
        result=output,
    )
    return TaskResult(output=output, steps=[step], token_usage=usage)
