"""Settings read from the environment (prefix CREW_HITL_)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

PREFIX = "CREW_HITL_"


class Settings(BaseModel):
    api_token: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 8000
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
    webhook_max_attempts: int = 10
    webhook_initial_interval: float = 1.0
    webhook_max_interval: float = 300.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {
            name: env[PREFIX + name.upper()]
            for name in cls.model_fields
            if PREFIX + name.upper() in env
        }
        return cls.model_validate(values)

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def resume_base_url(self) -> str:
        return (self.public_url or self.api_url).rstrip("/")

    def tokens(self) -> list[str]:
        return [t.strip() for t in self.api_token.split(",") if t.strip()]
