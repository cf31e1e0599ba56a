"""Webhook URLs a run may not call are refused with a 422 at kickoff and resume."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from api.failures import InvalidRequest
from api.webhook_guard import WebhookGuard
from crew_hitl.outbound import WebhookPolicy
from support import extra_api, kickoff


def allowed(setting: str, url: str, only: str = "") -> bool:
    try:
        asyncio.run(WebhookGuard(WebhookPolicy.from_settings(setting, only)).check("url", url))
    except InvalidRequest:
        return False
    return True


@pytest.mark.parametrize(
    "setting,url,expected",
    [
        ("", "http://93.184.216.34/h", True),
        ("", "http://[2606:2800:220:1::1]/h", True),
        # Private, loopback, unspecified, CGNAT and unique-local targets are refused unless
        # listed (a token holder could otherwise scan the service's network through /status).
        ("", "http://127.0.0.1:9000/h", False),
        ("", "https://localhost/h", False),
        ("", "http://[::1]/h", False),
        ("", "http://10.1.2.3/h", False),
        ("", "http://172.16.0.9/h", False),
        ("", "http://192.168.1.1/h", False),
        ("", "http://100.64.0.1/h", False),
        ("", "http://0.0.0.0:8000/h", False),
        ("", "http://[::]/h", False),
        ("", "http://[fd12:3456::1]/h", False),
        ("", "http://169.254.169.254/latest/meta-data", False),
        ("", "http://169.254.10.1:8080/h", False),
        ("", "http://[fe80::1]/h", False),
        ("169.254.169.254/32", "http://169.254.169.254/h", True),
        ("127.0.0.0/8", "http://127.0.0.1/h", True),
        ("127.0.0.0/8", "http://10.1.2.3/h", False),
        ("127.0.0.0/8", "http://93.184.216.34/h", True),
        ("10.0.0.0/8", "http://10.1.2.3/h", True),
        ("localhost", "http://localhost:9000/h", True),
        ("hooks.example", "http://127.0.0.1/h", False),
        ("hooks.example", "http://169.254.169.254/h", False),
        # IPv6 forms of an IPv4 address meet the IPv4 rules.
        ("", "http://[::ffff:169.254.169.254]/h", False),
        ("", "http://[::ffff:a9fe:a9fe]/h", False),
        ("", "http://[::169.254.169.254]/h", False),
        ("", "http://[64:ff9b::a9fe:a9fe]/h", False),
        ("", "http://[2002:a9fe:a9fe::1]/h", False),
        ("", "http://[::ffff:127.0.0.1]/h", False),
        ("", "http://100.100.100.200/h", False),
        ("", "http://[fd20:ce::254]/h", False),
        ("127.0.0.0/8", "http://[::ffff:127.0.0.1]/h", True),
        ("127.0.0.0/8", "http://[::ffff:10.0.0.1]/h", False),
        ("", "http://[::ffff:93.184.216.34]/h", True),
        ("", "http://[::ffff:0:a9fe:a9fe]/h", False),
        ("", "http://[64:ff9b:1::a9fe:a9fe]/h", False),
        ("", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/h", False),
        ("", "http://[fec0::1]/h", False),
    ],
)
def test_guard_rules(setting, url, expected):
    assert allowed(setting, url) is expected


@pytest.mark.parametrize(
    "only,url,expected",
    [
        ("hooks.example, 127.0.0.0/8", "https://hooks.example/h", True),
        ("hooks.example, 127.0.0.0/8", "http://127.0.0.1/h", True),
        ("hooks.example", "http://127.0.0.1/h", False),
        ("hooks.example", "http://93.184.216.34/h", False),
        ("10.0.0.0/8", "http://10.9.9.9/h", True),
        ("10.0.0.0/8", "http://169.254.169.254/h", False),
    ],
)
def test_only_admits_what_it_lists(only, url, expected):
    assert allowed("", url, only=only) is expected


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
def only_loopback_api(stack, tmp_path_factory) -> Iterator[httpx.Client]:
    yield from extra_api(stack, tmp_path_factory, webhook_allow="", webhook_only="127.0.0.0/8")


@pytest.fixture(scope="module")
def default_policy_api(stack, tmp_path_factory) -> Iterator[httpx.Client]:
    yield from extra_api(stack, tmp_path_factory, webhook_allow="")


def test_only_admits_nothing_but_what_it_lists(only_loopback_api, receiver):
    kickoff(only_loopback_api, receiver)  # the receiver is on 127.0.0.1
    body = {"inputs": {"topic": "x"}, "taskWebhookUrl": "http://93.184.216.34/hook"}
    refused = only_loopback_api.post("/kickoff", json=body)
    assert refused.status_code == 422
    assert "93.184.216.34" in refused.json()["message"]


def test_a_deployment_refuses_its_own_network_unless_it_is_listed(default_policy_api, receiver):
    for url in (receiver.url("/task"), "http://10.1.2.3/hook", "http://[::1]:9/hook"):
        refused = default_policy_api.post(
            "/kickoff", json={"inputs": {"topic": "x"}, "taskWebhookUrl": url}
        )
        assert refused.status_code == 422, url
        assert refused.json()["error"] == "webhook_refused"
        assert "taskWebhookUrl" in refused.json()["message"]
