"""Settings read from the environment (prefix CREW_HITL_)."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from crew_hitl.outbound import WebhookPolicy
from crew_hitl.review_policy import OPERATOR

PREFIX = "CREW_HITL_"
# The start-to-close limit of a regular task round (workflows/crew_run.py MODEL_CALL_TIMEOUT).
MODEL_CALL_LIMIT_SECONDS = 600.0
REVIEWER_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


class Settings(BaseModel):
    api_token: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_keep_alive: float = 75.0
    # Connections and requests the API serves at once; past it uvicorn answers 503 at once.
    api_max_connections: int = Field(default=1000, ge=1)
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    task_queue: str = "crew-runs"
    data_dir: Path = Path(".data")
    crews_dir: Path = Path("crews")
    default_crew: str = "research"
    public_url: str = ""
    secret_key: str = ""
    status_query_timeout: float = 3.0
    webhook_timeout: float = 15.0
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhook_secret: str = ""
    # Exceptions to the refused ranges (private, loopback, CGNAT, ...): hosts or CIDRs.
    webhook_allow: str = ""
    # When set, the only hosts or CIDRs webhooks may go to.
    webhook_only: str = ""
    llm_base_url: str = ""
    llm_api_key: str = ""
    # More endpoints, each with its own key: `https://api.example.com=sk-...,http://ollama:11434=`.
    llm_api_keys: str = ""
    llm_timeout: float = 300.0
    task_heartbeat_timeout: float = 30.0
    python_task_timeout: float = 300.0
    force_continue_after_events: int = Field(default=10_000, ge=100, le=40_000)
    max_output_bytes: int = 256 * 1024
    max_request_bytes: int = 1024 * 1024
    # E-mail to the reviewers a task's review policy names (none without a host).
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "crew-hitl@localhost"
    # Where each named reviewer reads mail: `alice=alice@example.com,bob=bob@example.com`.
    reviewer_emails: str = ""
    # An inbox session not used for this long ends (it ends 12 hours after sign-in anyway).
    inbox_idle_timeout: float = 3600.0
    # When set, GET /metrics (the API's and the worker's) wants `Authorization: Bearer <it>`.
    metrics_token: str = ""
    # Where the worker serves its metrics; port 0 serves none.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)
    # Run the workflow inside Temporal's sandbox in production too (the tests always do).
    workflow_sandbox: bool = False
    log_level: str = "INFO"

    @field_validator(
        "task_heartbeat_timeout",
        "api_keep_alive",
        "status_query_timeout",
        "webhook_timeout",
        "llm_timeout",
        "python_task_timeout",
        "inbox_idle_timeout",
    )
    @classmethod
    def _positive_seconds(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError("give a number of seconds greater than 0")
        return value

    @field_validator("llm_timeout")
    @classmethod
    def _within_the_model_calls_limit(cls, value: float) -> float:
        # The workflow gives a model-call round MODEL_CALL_LIMIT_SECONDS in all; a longer call
        # timeout would be cut short by it, silently.
        if value > MODEL_CALL_LIMIT_SECONDS - 30:
            raise ValueError(
                f"at most {MODEL_CALL_LIMIT_SECONDS - 30:.0f} seconds: a model call's round ends "
                f"after {MODEL_CALL_LIMIT_SECONDS:.0f}"
            )
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_is_seconds(cls, value: str) -> str:
        try:
            waits = [float(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ValueError("give seconds separated by commas, e.g. 5,300,1800") from None
        if any(wait < 0 or not math.isfinite(wait) for wait in waits):
            raise ValueError("waits must be zero or more seconds, and finite")
        return value

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {
            name: env[PREFIX + name.upper()]
            for name in cls.model_fields
            if PREFIX + name.upper() in env
        }
        return cls.model_validate(values)

    def reviewer_addresses(self) -> dict[str, str]:
        pairs = (item.partition("=") for item in self.reviewer_emails.split(",") if item.strip())
        return {name.strip(): address.strip() for name, _, address in pairs if address.strip()}

    def webhook_policy(self) -> WebhookPolicy:
        return WebhookPolicy.from_settings(self.webhook_allow, self.webhook_only)

    def model_keys(self) -> dict[str, str]:
        """The key for each model endpoint, by origin: a key goes only where it was configured
        for, never to another base_url an agent names."""
        base, key = self.model_endpoint()
        keys = {origin(base): key}
        for entry in (e.strip() for e in self.llm_api_keys.split(",")):
            if entry:
                endpoint, _, endpoint_key = entry.partition("=")
                keys[origin(endpoint.strip())] = endpoint_key.strip()
        return {endpoint: key for endpoint, key in keys.items() if key}

    def model_endpoint(self) -> tuple[str, str]:
        """Base URL and key of the OpenAI-compatible endpoint (OPENAI_* as fallbacks)."""
        base = self.llm_base_url or os.environ.get("OPENAI_BASE_URL", "")
        key = self.llm_api_key or os.environ.get("OPENAI_API_KEY", "")
        return (base or "https://api.openai.com/v1").rstrip("/"), key

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def worker_metrics_url(self) -> str | None:
        if not self.worker_metrics_port:
            return None
        return f"http://{self.worker_metrics_host}:{self.worker_metrics_port}/metrics"

    @property
    def resume_base_url(self) -> str:
        return (self.public_url or self.api_url).rstrip("/")

    def retry_schedule(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_schedule.split(",") if part.strip()]

    def tokens(self) -> list[tuple[str, str]]:
        """(reviewer name, token) pairs: `alice:tok-a,bob:tok-b`; a bare token is `api`."""
        pairs = []
        for entry in (e.strip() for e in self.api_token.split(",")):
            if not entry:
                continue
            name, sep, token = (part.strip() for part in entry.partition(":"))
            if sep and REVIEWER_NAME.fullmatch(name) and token:
                pairs.append((name, token))
            else:
                pairs.append((OPERATOR, entry))
        return pairs


def origin(url: str) -> str:
    """scheme://host:port of a URL, the port made explicit."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"
