"""A stack of its own whose API knows named reviewers (so the inbox shows nothing but the runs
a test starts), and the steps of signing in to the inbox over plain HTTP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from crew_hitl.settings import Settings
from runner.stack import Stack, on_free_ports
from support.flow import state_is, wait_status

ALICE = "tok-alice-3f9a61"
BOB = "tok-bob-81c2d7"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def reviewer_stack(settings: Settings, tmp: Path) -> Stack:
    """A stack whose API knows alice and bob; use it with `with` (it starts and stops)."""
    named = settings.model_copy(update={"api_token": f"alice:{ALICE},bob:{BOB}"})
    return Stack(on_free_ports(named, tmp / "data"), log_dir=tmp / "logs", throwaway=True)


def api_client(stack: Stack, token: str = ALICE, timeout: float = 15) -> httpx.Client:
    return httpx.Client(
        base_url=stack.settings.api_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def browser_client(stack: Stack) -> httpx.Client:
    """Like a browser: cookies, no Authorization header, redirects not followed."""
    return httpx.Client(base_url=stack.settings.api_url, timeout=15)


def start_paused(api: httpx.Client, inputs: dict[str, Any] | None = None, **extra: Any) -> str:
    body = {"inputs": inputs if inputs is not None else {"topic": "AI Research"}, **extra}
    response = api.post("/kickoff", json=body)
    assert response.status_code == 200, response.text
    kickoff_id = response.json()["kickoff_id"]
    wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))
    return kickoff_id


def csrf_of(html: str, action: str | None = None) -> str:
    """The CSRF field of the page's first form, or of the form posting to `action`."""
    start = html.index(f'action="{action}"') if action else 0
    found = CSRF.search(html, start)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(browser: httpx.Client, token: str, next_path: str = "/ui") -> httpx.Response:
    form = browser.get("/ui/sign-in", params={"next": next_path})
    assert form.status_code == 200, form.text
    return browser.post(
        "/ui/sign-in",
        data={"token": token, "csrf": csrf_of(form.text, "/ui/sign-in"), "next": next_path},
    )
