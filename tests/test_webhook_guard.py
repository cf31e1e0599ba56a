"""Webhook URLs a run may not call are refused with a 422 at kickoff and resume."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from api.failures import InvalidRequest
from api.webhook_guard import WebhookGuard
from support import extra_api, kickoff


def allowed(setting: str, url: str) -> bool:
    try:
        asyncio.run(WebhookGuard.from_setting(setting).check("url", url))
    except InvalidRequest:
        return False
    return True


@pytest.mark.parametrize(
    "setting,url,expected",
    [
        ("", "http://127.0.0.1:9000/h", True),
        ("", "https://localhost/h", True),
        ("", "http://169.254.169.254/latest/meta-data", False),
        ("", "http://169.254.10.1:8080/h", False),
        ("", "http://[fe80::1]/h", False),
        ("169.254.169.254/32", "http://169.254.169.254/h", True),
        ("127.0.0.0/8", "http://127.0.0.1/h", True),
        ("127.0.0.0/8", "http://10.1.2.3/h", False),
        ("hooks.example, 127.0.0.0/8", "https://hooks.example/h", True),
        ("hooks.example", "http://127.0.0.1/h", False),
        ("hooks.example", "http://169.254.169.254/h", False),
        # IPv6 forms of an IPv4 address meet the IPv4 rules.
        ("", "http://[::ffff:169.254.169.254]/h", False),
        ("", "http://[::ffff:a9fe:a9fe]/h", False),
        ("", "http://[::169.254.169.254]/h", False),
        ("", "http://[64:ff9b::a9fe:a9fe]/h", False),
        ("", "http://[2002:a9fe:a9fe::1]/h", False),
        ("", "http://100.100.100.200/h", False),
        ("", "http://[fd20:ce::254]/h", False),
        ("127.0.0.0/8", "http://[::ffff:127.0.0.1]/h", True),
        ("127.0.0.0/8", "http://[::ffff:10.0.0.1]/h", False),
        ("", "http://[::1]/h", True),
    ],
)
def test_guard_rules(setting, url, expected):
    assert allowed(setting, url) is expected


def test_metadata_addresses_are_refused_at_kickoff_and_resume(api):
    body = {"inputs": {"topic": "x"}, "humanInputWebhook": {"url": "http://169.254.169.254/x"}}
    refused = api.post("/kickoff", json=body)
    assert refused.status_code == 422
    assert refused.json()["error"] == "webhook_refused"
    assert "humanInputWebhook.url" in refused.json()["message"]
    resume = {
        "execution_id": "any",
        "task_id": "research_task",
        "is_approve": True,
        "crewWebhookUrl": "http://[fe80::1]:80/x",
    }
    assert api.post("/resume", json=resume).status_code == 422


@pytest.fixture(scope="module")
def allowlisted_api(stack, tmp_path_factory) -> Iterator[httpx.Client]:
    yield from extra_api(stack, tmp_path_factory, webhook_allow="127.0.0.0/8")


def test_an_allowlist_admits_only_what_it_lists(allowlisted_api, receiver):
    kickoff(allowlisted_api, receiver)  # the receiver is on 127.0.0.1
    body = {"inputs": {"topic": "x"}, "taskWebhookUrl": "http://10.1.2.3/hook"}
    refused = allowlisted_api.post("/kickoff", json=body)
    assert refused.status_code == 422
    assert "10.1.2.3" in refused.json()["message"]
