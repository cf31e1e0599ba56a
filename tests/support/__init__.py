"""Helpers and constants shared by the tests: `from support import ...`.

Each submodule is one kind of helper; this package re-exports their public names. Submodules
import one another by module (`from support.flow import ...`), never from this package, so the
order below does not matter."""

from support.browser import CHROMIUM, CHROMIUM_ARGS, MISSING, launch, running_chromium
from support.constants import MODEL_KEY, ROOT, ROTATED_SECRET, TESTS, TOKEN, WEBHOOK_SECRET
from support.flow import WEBHOOK_TOKEN, human_input_request, kickoff, resume, state_is, wait_status
from support.model_server import (
    REFUSE,
    TOOL_ARGUMENT,
    ModelServer,
    completion,
    start_model_server,
)
from support.receiver import Received, WebhookReceiver, start_receiver
from support.replay import HISTORIES, replay
from support.reviewers import (
    ALICE,
    BOB,
    CSRF,
    api_client,
    browser_client,
    csrf_of,
    reviewer_stack,
    sign_in,
    start_paused,
)
from support.scrape import Samples, scrape, wait_for_metric
from support.stacks import client_for, crews_dir, extra_api, let_workers_import_test_functions
from support.temporal_cli import signal_resume, temporal

__all__ = [
    "ALICE",
    "BOB",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "CSRF",
    "HISTORIES",
    "MISSING",
    "MODEL_KEY",
    "REFUSE",
    "ROOT",
    "ROTATED_SECRET",
    "TESTS",
    "TOKEN",
    "TOOL_ARGUMENT",
    "WEBHOOK_SECRET",
    "WEBHOOK_TOKEN",
    "ModelServer",
    "Received",
    "Samples",
    "WebhookReceiver",
    "api_client",
    "browser_client",
    "client_for",
    "completion",
    "crews_dir",
    "csrf_of",
    "extra_api",
    "human_input_request",
    "kickoff",
    "launch",
    "let_workers_import_test_functions",
    "replay",
    "resume",
    "reviewer_stack",
    "running_chromium",
    "scrape",
    "sign_in",
    "signal_resume",
    "start_model_server",
    "start_paused",
    "start_receiver",
    "state_is",
    "temporal",
    "wait_for_metric",
    "wait_status",
]
