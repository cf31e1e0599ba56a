"""The inbox in a real browser: sign in, open a paused run, reject with feedback, see round 2,
approve, see the run complete; HTML in the output and feedback stays text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from runner.stack import Stack
from support import (
    ALICE,
    CHROMIUM,
    MISSING,
    api_client,
    reviewer_stack,
    running_chromium,
    start_paused,
    state_is,
    wait_status,
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)

TOPIC = '<script>alert("topic")</script><img src=x onerror=alert(1)>'
FEEDBACK = '<b>Add sources</b> <script>alert("feedback")</script>'
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def inbox_stack(settings, tmp_path_factory) -> Iterator[Stack]:
    with reviewer_stack(settings, tmp_path_factory.mktemp("inbox-browser")) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from running_chromium()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield opened
    context.close()
    assert dialogs == [], f"a script ran: {dialogs}"


def test_review_a_run_in_the_inbox(inbox_stack, page):
    with api_client(inbox_stack) as api:
        kickoff_id = start_paused(api, inputs={"topic": TOPIC})
    base = inbox_stack.settings.api_url

    page.goto(f"{base}/ui")
    expect(page).to_have_url(f"{base}/ui/sign-in?next=%2Fui")
    page.get_by_label("API token").fill(ALICE)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/ui")
    expect(page.locator(".bar .reviewer")).to_have_text("alice")

    page.locator(f'a[href="/ui/runs/{kickoff_id}"]').click()
    expect(page.locator(".pending h2")).to_have_text("research_task — round 1")
    # The topic's HTML is in the output as text, not as elements.
    expect(page.locator(".pending .output")).to_contain_text(TOPIC)
    expect(page.locator(".output img")).to_have_count(0)

    page.get_by_label("Feedback").fill(FEEDBACK)
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".pending h2")).to_have_text("research_task — round 2", timeout=WAIT_MS)
    earlier = page.locator(".rounds .round").first
    expect(earlier.locator("h3")).to_contain_text("Round 1 — rejected by alice")
    expect(earlier.locator(".feedback")).to_have_text(FEEDBACK)
    expect(page.locator(".pending .output")).to_contain_text(FEEDBACK)
    expect(page.locator("script")).to_have_count(0)
    expect(page.locator("b")).to_have_count(0)

    page.get_by_label("Feedback").fill("Good now. Keep it short.")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".finished h2")).to_have_text("Completed", timeout=WAIT_MS)
    expect(page.locator(".state")).to_have_text("SUCCESS")
    expect(page.locator(".tasks")).to_contain_text("approved by alice")

    with api_client(inbox_stack) as api:
        status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    rounds = status["tasks"][0]["rounds"]
    assert [(r["decision"], r["reviewer"]) for r in rounds] == [
        ("rejected", "alice"),
        ("approved", "alice"),
    ]
    assert rounds[0]["feedback"] == FEEDBACK


def test_signing_out_and_a_stale_decision_in_two_tabs(inbox_stack, page):
    with api_client(inbox_stack) as api:
        kickoff_id = start_paused(api)
    base = inbox_stack.settings.api_url
    page.goto(f"{base}/ui/sign-in")
    page.get_by_label("API token").fill(ALICE)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{base}/ui/runs/{kickoff_id}")
    other = page.context.new_page()  # the same reviewer in a second tab, on round 1 too
    other.goto(f"{base}/ui/runs/{kickoff_id}")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".pending h2")).to_have_text("research_task — round 2", timeout=WAIT_MS)

    other.get_by_label("Feedback").fill("Looks fine")
    other.get_by_role("button", name="Approve").click()
    expect(other.locator(".stale")).to_contain_text("moved on while you were reviewing round 1")
    expect(other.locator(".stale .feedback")).to_have_text("Looks fine")
    expect(other.locator(".pending h2")).to_have_text("research_task — round 2")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/ui/sign-in")
    page.goto(f"{base}/ui")
    expect(page).to_have_url(f"{base}/ui/sign-in?next=%2Fui")
