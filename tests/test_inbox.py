"""The reviewer's inbox over plain HTTP: sign-in, CSRF, stale decisions, escaping."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter

from crew_hitl import WORKFLOW_TYPE
from crew_hitl import search_attributes as sa
from crew_hitl.contracts.history import CrewRunInput, ResumeSignal
from crew_hitl.secrets import SecretBox, load_or_create_key
from inbox.throttle import SignInThrottle
from runner.stack import Stack
from support import (
    ALICE,
    BOB,
    api_client,
    browser_client,
    csrf_of,
    extra_api,
    reviewer_stack,
    sign_in,
    start_paused,
    state_is,
    wait_status,
)

PAYLOAD = '<script>alert("out")</script><img src=x onerror=alert(1)> [go](javascript:alert(2))'
FEEDBACK = '<b>bold?</b> <script>alert("fb")</script>\nline two'


@pytest.fixture(scope="module")
def inbox_stack(settings, tmp_path_factory) -> Iterator[Stack]:
    with reviewer_stack(settings, tmp_path_factory.mktemp("inbox")) as stack:
        yield stack


@pytest.fixture
def api(inbox_stack) -> Iterator[httpx.Client]:
    with api_client(inbox_stack) as client:
        yield client


@pytest.fixture
def alice(inbox_stack) -> Iterator[httpx.Client]:
    with browser_client(inbox_stack) as browser:
        assert sign_in(browser, ALICE).status_code == 303
        yield browser


def decide(browser: httpx.Client, kickoff_id: str, decision: str, **fields: str) -> httpx.Response:
    page = browser.get(f"/ui/runs/{kickoff_id}")
    assert page.status_code == 200, page.text
    round_number = re.search(r'name="round" value="(\d+)"', page.text)
    form = {
        "csrf": csrf_of(page.text),
        "task_id": "research_task",
        "round": round_number.group(1) if round_number else "1",
        "decision": decision,
        "feedback": "",
        **fields,
    }
    return browser.post(f"/ui/runs/{kickoff_id}/decision", data=form)


def test_every_page_needs_sign_in(inbox_stack):
    with browser_client(inbox_stack) as browser:
        for path in ("/ui", "/ui?crew=research", "/ui/runs/some-run", "/ui/leads?days=7"):
            response = browser.get(path)
            assert response.status_code == 303
            location = urlsplit(response.headers["location"])
            assert location.path == "/ui/sign-in"
            assert parse_qs(location.query)["next"] == [path]
        posted = browser.post("/ui/runs/some-run/decision", data={"decision": "approved"})
        assert posted.status_code == 303
        assert posted.headers["location"] == "/ui/sign-in?next=%2Fui%2Fruns%2Fsome-run"
        # The API's bearer token is no way into the inbox's pages.
        bearer = browser.get("/ui", headers={"Authorization": f"Bearer {ALICE}"})
        assert bearer.status_code == 303


def test_a_link_from_another_site_gets_a_same_site_link_to_follow(inbox_stack):
    with browser_client(inbox_stack) as browser:
        response = browser.get("/ui/runs/abc", headers={"Sec-Fetch-Site": "cross-site"})
        assert response.status_code == 200
        assert 'href="/ui/runs/abc"' in response.text


def test_sign_in_with_a_named_token_keeps_a_sealed_strict_cookie(inbox_stack):
    with browser_client(inbox_stack) as browser:
        wrong = sign_in(browser, "not-a-token")
        assert wrong.status_code == 403
        assert "not one this API accepts" in wrong.text

        answer = sign_in(browser, BOB, next_path="/ui?crew=research")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui?crew=research"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("crew_hitl_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/ui" in cookie
        assert "Secure" not in cookie  # plain http here; https gets Secure
        # Sealed: the reviewer's name and an expiry, never the token.
        assert BOB not in cookie
        box = SecretBox(load_or_create_key("", inbox_stack.settings.data_dir))
        sealed = cookie.split(";")[0].removeprefix("crew_hitl_session=").strip('"')
        content = box.open(sealed)
        assert content["reviewer"] == "bob"
        assert BOB not in json.dumps(content)

        inbox = browser.get("/ui")
        assert inbox.status_code == 200
        assert 'Signed in as <strong class="reviewer">bob</strong>' in inbox.text
        policy = inbox.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert inbox.headers["cache-control"] == "no-store"


def test_sign_in_goes_nowhere_but_the_inbox(inbox_stack):
    with browser_client(inbox_stack) as browser:
        for outside in ("https://evil.example/ui", "//evil.example/ui", "/elsewhere", "/ui\\@x"):
            answer = sign_in(browser, ALICE, next_path=outside)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/ui"


def test_sign_in_without_its_own_form_is_refused(inbox_stack):
    with browser_client(inbox_stack) as browser:
        forged = browser.post("/ui/sign-in", data={"token": ALICE, "csrf": "guess", "next": "/ui"})
        assert forged.status_code == 403
        assert "crew_hitl_session" not in forged.headers.get("set-cookie", "")
        browser.get("/ui/sign-in")  # a real form's cookie, with another form's token
        forged = browser.post("/ui/sign-in", data={"token": ALICE, "csrf": "guess", "next": "/ui"})
        assert forged.status_code == 403


def test_failed_sign_ins_from_one_address_are_throttled(inbox_stack):
    # Through a proxy on this host: uvicorn takes the client address from X-Forwarded-For.
    guesser = {"X-Forwarded-For": "203.0.113.9"}
    with browser_client(inbox_stack) as browser:
        browser.headers.update(guesser)
        for attempt in range(10):
            assert sign_in(browser, f"guess-{attempt}").status_code == 403
        refused = sign_in(browser, ALICE)  # even the right token, until the window passes
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 300
        assert "Too many failed sign-ins" in refused.text
        assert "crew_hitl_session" not in refused.headers.get("set-cookie", "")
    with browser_client(inbox_stack) as other:
        other.headers.update({"X-Forwarded-For": "203.0.113.10"})
        assert sign_in(other, ALICE).status_code == 303
    log = (inbox_stack.log_dir / "api.log").read_text()
    assert "inbox sign-in refused from 203.0.113.9 (10 failed recently)" in log
    assert "guess-" not in log


def test_the_throttle_forgets_failures_older_than_its_window():
    throttle = SignInThrottle(failures_allowed=3, window_seconds=60, addresses_kept=2)
    for second in (0, 10, 20):
        throttle.failed("a", now=second)
    assert throttle.retry_after("a", now=30) == 30  # the first failure ages out at 60
    assert throttle.retry_after("a", now=60) is None
    throttle.failed("b", now=61)
    throttle.failed("c", now=62)  # over addresses_kept: "a", failing longest ago, goes
    assert throttle.failed("a", now=63) == 1  # its two recent failures were forgotten


def test_the_throttle_counts_an_ipv6_client_by_its_64():
    throttle = SignInThrottle(failures_allowed=2, window_seconds=60)
    throttle.failed("2001:db8:1:2::1", now=0)
    throttle.failed("2001:db8:1:2:ffff::9", now=1)  # the same host's other address
    assert throttle.retry_after("2001:db8:1:2::77", now=2) == 58
    assert throttle.retry_after("2001:db8:1:3::1", now=2) is None  # the next /64
    throttle.failed("::ffff:203.0.113.5", now=0)  # IPv4 as mapped into IPv6
    throttle.failed("203.0.113.5", now=1)
    assert throttle.retry_after("203.0.113.5", now=2) == 58


def test_a_tampered_or_missing_session_is_no_session(inbox_stack):
    with browser_client(inbox_stack) as browser:
        browser.cookies.set("crew_hitl_session", "gAAAAABtampered", path="/ui")
        assert browser.get("/ui").status_code == 303


def test_a_decision_without_the_forms_csrf_token_is_refused(api, alice):
    kickoff_id = start_paused(api)
    for csrf in ("", "guessed-token"):
        refused = alice.post(
            f"/ui/runs/{kickoff_id}/decision",
            data={"csrf": csrf, "task_id": "research_task", "round": "1", "decision": "approved"},
        )
        assert refused.status_code == 403
        assert "expired or did not come from this site" in refused.text
    # Another reviewer's form token is no good either.
    with browser_client_signed_in(api, BOB) as bob:
        bob_csrf = csrf_of(bob.get(f"/ui/runs/{kickoff_id}").text)
    refused = decide(alice, kickoff_id, "approved", csrf=bob_csrf)
    assert refused.status_code == 403
    status = wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))
    assert status["ignored_resumes"] == []
    assert status["tasks"][0]["rounds"][0]["decision"] is None


@contextmanager
def browser_client_signed_in(api: httpx.Client, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=str(api.base_url), timeout=15) as browser:
        assert sign_in(browser, token).status_code == 303
        yield browser


def test_decisions_carry_the_reviewer_and_a_stale_one_is_said_so(api, alice):
    kickoff_id = start_paused(api)
    with browser_client_signed_in(api, BOB) as bob:
        bobs_page = bob.get(f"/ui/runs/{kickoff_id}")  # bob reads round 1 too

        rejected = decide(alice, kickoff_id, "rejected", feedback="Add sources")
        assert rejected.status_code == 303
        assert rejected.headers["location"] == f"/ui/runs/{kickoff_id}?sent=rejected"
        wait_status(
            api,
            kickoff_id,
            lambda s: (s["pending_human_input"] or {}).get("round") == 2 and not s["degraded"],
        )

        late = bob.post(
            f"/ui/runs/{kickoff_id}/decision",
            data={
                "csrf": csrf_of(bobs_page.text),
                "task_id": "research_task",
                "round": "1",
                "decision": "approved",
                "feedback": "Fine as it is",
            },
        )
    assert late.status_code == 409
    assert "This run moved on while you were reviewing round 1" in late.text
    assert "Your decision (approved) was not applied" in late.text
    assert "Fine as it is" in late.text  # handed back, not lost
    assert 'name="round" value="2"' in late.text  # and the round now waiting

    status = wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))
    [first, second] = status["tasks"][0]["rounds"]
    assert (first["decision"], first["feedback"], first["reviewer"]) == (
        "rejected",
        "Add sources",
        "alice",
    )
    assert first["decided_at"] is not None
    assert first["source"] == "inbox"
    assert [(e["reviewer"], e["source"], e["reviewer_claimed"]) for e in status["audit"]] == [
        ("alice", "inbox", False),  # bob's late decision was refused before it reached the run
    ]
    assert second["decision"] is None
    assert status["ignored_resumes"] == []

    page = alice.get(f"/ui/runs/{kickoff_id}")
    assert 'by <strong class="reviewer">alice</strong>' in page.text
    approved = decide(alice, kickoff_id, "approved", feedback="Good now")
    assert approved.status_code == 303
    status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    assert status["tasks"][0]["rounds"][1]["reviewer"] == "alice"
    assert "Completed" in alice.get(f"/ui/runs/{kickoff_id}").text


def test_a_stale_round_that_reaches_the_run_is_ignored_by_it(api, inbox_stack):
    kickoff_id = start_paused(api)

    async def signal_stale() -> None:
        client = await Client.connect(
            inbox_stack.settings.temporal_address, data_converter=pydantic_data_converter
        )
        stale = ResumeSignal(task_id="research_task", is_approve=True, round=7, reviewer="bob")
        await client.get_workflow_handle(kickoff_id).signal("resume", stale)

    asyncio.run(signal_stale())
    status = wait_status(api, kickoff_id, lambda s: s["ignored_resumes"])
    assert "round 7" in status["ignored_resumes"][0]["reason"]
    assert status["state"] == "PENDING_HUMAN_INPUT"


async def start_copy(stack: Stack, kickoff_id: str, new_id: str) -> None:
    """Start, as an operator could with the Temporal client, a run with the same input as
    an API-started one under an id of their own."""
    client = await Client.connect(
        stack.settings.temporal_address, data_converter=pydantic_data_converter
    )
    history = await client.get_workflow_handle(kickoff_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [run] = await client.data_converter.decode(started.input.payloads, [CrewRunInput])
    await client.start_workflow(
        WORKFLOW_TYPE,
        run.model_copy(update={"kickoff_id": new_id}),
        id=new_id,
        task_queue=stack.settings.task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.CREW_NAME, run.crew.name)]),
    )


def test_a_run_id_with_slashes_and_url_characters_has_working_links(api, alice, inbox_stack):
    odd_id = "ops/re-run 1?x=1#top"
    asyncio.run(start_copy(inbox_stack, start_paused(api), odd_id))
    wait_status(api, quote(odd_id, safe=""), state_is("PENDING_HUMAN_INPUT"))

    links = re.findall(r'href="(/ui/runs/[^"]+)"', alice.get("/ui").text)
    escaped = "/ui/runs/ops%2Fre-run%201%3Fx%3D1%23top"
    assert escaped in links
    page = alice.get(escaped)
    assert page.status_code == 200
    assert f'action="{escaped}/decision"' in page.text
    assert decide(alice, quote(odd_id, safe=""), "approved").status_code == 303
    wait_status(api, quote(odd_id, safe=""), state_is("SUCCESS"))


def test_html_in_outputs_and_feedback_is_shown_as_text(api, alice):
    kickoff_id = start_paused(api, inputs={"topic": PAYLOAD})
    assert decide(alice, kickoff_id, "rejected", feedback=FEEDBACK).status_code == 303
    wait_status(api, kickoff_id, lambda s: (s["pending_human_input"] or {}).get("round") == 2)

    page = alice.get(f"/ui/runs/{kickoff_id}").text
    assert "<script" not in page
    assert "<img" not in page
    assert 'href="javascript' not in page
    assert "&lt;script&gt;alert(&quot;out&quot;)&lt;/script&gt;" in page  # the output
    # The feedback as typed (its line break too), escaped.
    assert (
        "&lt;b&gt;bold?&lt;/b&gt; &lt;script&gt;alert(&#34;fb&#34;)&lt;/script&gt;\nline two"
        in page
    )
    inbox = alice.get("/ui").text
    assert "<script" not in inbox
    assert "&lt;script&gt;" in inbox  # in the excerpt


def test_the_list_is_newest_first_filtered_by_crew_and_paged(api, alice):
    first = start_paused(api)
    strict = start_paused(
        api, crew="strict_review", inputs={"subject": "tides", "audience": "kids"}
    )
    last = start_paused(api)

    def linked(html: str) -> list[str]:
        return re.findall(r'href="/ui/runs/([^"]+)"', html)

    everything = linked(alice.get("/ui", params={"page_size": "100"}).text)
    assert everything.index(last) < everything.index(strict) < everything.index(first)

    only_strict = alice.get("/ui", params={"crew": "strict_review"}).text
    assert strict in linked(only_strict)
    assert first not in linked(only_strict) and last not in linked(only_strict)
    assert "draft_task" in only_strict

    one = alice.get("/ui", params={"page_size": "1"}).text
    assert linked(one) == [last]
    next_link = re.search(r'href="(/ui\?[^"]*page=[^"]+)" rel="next"', one)
    assert next_link
    following = alice.get(next_link.group(1).replace("&amp;", "&")).text
    assert linked(following) == [strict]
    assert "First page" in following

    bad = alice.get("/ui", params={"crew": 'x" OR 1=1'})
    assert bad.status_code == 422
    assert "crew: up to 64 letters" in bad.text


def test_sign_out_ends_the_session_for_good(inbox_stack):
    with browser_client(inbox_stack) as browser:
        sign_in(browser, ALICE)
        copied = browser.cookies.get("crew_hitl_session", path="/ui")
        assert copied and browser.get("/ui").status_code == 200
        csrf = csrf_of(browser.get("/ui").text)
        out = browser.post("/ui/sign-out", data={"csrf": csrf})
        assert out.status_code == 303
        assert out.headers["location"] == "/ui/sign-in"
        assert browser.get("/ui").status_code == 303
    # A copy of the cookie taken before signing out is refused too.
    with browser_client(inbox_stack) as thief:
        thief.cookies.set("crew_hitl_session", copied, path="/ui")
        assert thief.get("/ui").status_code == 303


# A use renews the session when it is older than a quarter of the idle timeout; the time between
# two renewals is the pause plus the whole previous page (a listing and up to 20 run queries),
# so the pause leaves a page 2.5 s to answer.
IDLE_TIMEOUT = 4.0
PAUSE_IN_USE = 1.5


@pytest.fixture(scope="module")
def idle_expiring_api(inbox_stack, tmp_path_factory) -> Iterator[httpx.Client]:
    yield from extra_api(inbox_stack, tmp_path_factory, inbox_idle_timeout=IDLE_TIMEOUT)


def test_a_session_ends_when_it_is_not_used_and_lives_while_it_is(idle_expiring_api):
    with httpx.Client(base_url=str(idle_expiring_api.base_url), timeout=15) as browser:
        assert sign_in(browser, ALICE).status_code == 303
        # Used every 1.5 s, the session outlives its 4 s idle timeout: each use renews it.
        for _ in range(4):
            time.sleep(PAUSE_IN_USE)
            page = browser.get("/ui")
            assert page.status_code == 200, "a session in use ended"
        assert "crew_hitl_session=" in page.headers.get("set-cookie", "")
        renewed = browser.cookies.get("crew_hitl_session", path="/ui")
        time.sleep(IDLE_TIMEOUT + 0.5)
        assert browser.get("/ui").status_code == 303, "an idle session was still valid"
    # The cookie itself is refused, wherever it is sent from.
    with httpx.Client(base_url=str(idle_expiring_api.base_url), timeout=15) as thief:
        thief.cookies.set("crew_hitl_session", renewed, path="/ui")
        assert thief.get("/ui").status_code == 303


def test_sign_out_is_not_undone_by_a_renewed_cookie(idle_expiring_api):
    with httpx.Client(base_url=str(idle_expiring_api.base_url), timeout=15) as browser:
        assert sign_in(browser, ALICE).status_code == 303
        time.sleep(PAUSE_IN_USE)  # the next request renews the session, and signs out
        out = browser.post("/ui/sign-out", data={"csrf": csrf_of(browser.get("/ui").text)})
        assert out.status_code == 303
        [session_cookie] = [
            c for c in out.headers.get_list("set-cookie") if c.startswith("crew_hitl_session=")
        ]
        assert "max-age=0" in session_cookie.lower(), "sign-out's deletion was overridden"
        assert browser.get("/ui").status_code == 303


def test_an_unknown_run_is_a_page_saying_so(alice):
    response = alice.get("/ui/runs/no-such-run")
    assert response.status_code == 404
    assert "no run with id" in response.text


def test_over_https_the_cookie_is_secure(inbox_stack):
    # A TLS proxy on this host says so with X-Forwarded-Proto, which uvicorn trusts from it.
    https = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=inbox_stack.settings.api_url, headers=https) as browser:
        form = browser.get("/ui/sign-in")
        assert "Secure" in form.headers["set-cookie"]
        answer = browser.post(
            "/ui/sign-in",
            data={"token": ALICE, "csrf": csrf_of(form.text, "/ui/sign-in"), "next": "/ui"},
            # A Secure cookie is not sent back over plain http; a browser behind TLS would.
            headers={"Cookie": f"crew_hitl_sign_in={form.cookies['crew_hitl_sign_in']}"},
        )
        assert answer.status_code == 303
        session = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("crew_hitl_session=")
        )
        assert "Secure" in session


def test_odd_input_is_a_page_saying_so_never_a_500(api, alice):
    kickoff_id = start_paused(api)
    for params in ({"page_size": "9" * 5000}, {"page_size": "²"}, {"page": "%%%"}, {"page": "abc"}):
        assert alice.get("/ui", params=params).status_code in (200, 422)
    csrf = csrf_of(alice.get("/ui").text)
    decision = f"/ui/runs/{kickoff_id}/decision"
    odd_forms = [
        {"round": "²", "decision": "approved", "task_id": "research_task"},
        {"round": "9" * 5000, "decision": "approved", "task_id": "research_task"},
        {"round": "1", "decision": "maybe", "task_id": "research_task"},
        {"round": "1", "decision": "approved"},
        {"round": "1", "decision": "approved", "task_id": ""},
    ]
    for form in odd_forms:
        answer = alice.post(decision, data={"csrf": csrf, **form})
        assert answer.status_code == 422, (form, answer.status_code)
        assert "The form was incomplete" in answer.text
    as_json = alice.post(decision, json={"csrf": csrf, "round": 1, "decision": "approved"})
    assert as_json.status_code == 403
    assert wait_status(api, kickoff_id, state_is("PENDING_HUMAN_INPUT"))["ignored_resumes"] == []


def test_a_form_field_that_decodes_to_a_lone_surrogate_is_refused_not_a_500(inbox_stack, alice):
    # multipart with charset=utf-7: "+2AA-" decodes to "\ud800", which is not text.
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\n+2AA-\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n+2AA-\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    headers = {"Content-Type": f"multipart/form-data; charset=utf-7; boundary={boundary}"}
    with httpx.Client(base_url=inbox_stack.settings.api_url) as browser:
        form = browser.get("/ui/sign-in")
        answer = browser.post("/ui/sign-in", content=body, headers=headers)
        assert form.status_code == 200
        assert 400 <= answer.status_code < 500, answer.status_code
    decision = alice.post("/ui/runs/any/decision", content=body, headers=headers)
    assert 400 <= decision.status_code < 500, decision.status_code


def test_approve_with_edits_from_the_inbox_and_an_unchanged_copy_is_no_edit(api, alice):
    kickoff_id = start_paused(api)
    page = alice.get(f"/ui/runs/{kickoff_id}").text
    assert 'name="edited_output"' in page
    original = re.search(r'name="original_digest" value="([0-9a-f]{64})"', page)
    assert original is not None
    # The copy sent back unchanged (line ends as browsers send them) is a plain approval.
    shown = api.get(f"/status/{kickoff_id}").json()["pending_human_input"]["output"]
    unchanged = decide(
        alice,
        kickoff_id,
        "approved",
        edited_output=shown.replace("\n", "\r\n"),
        original_digest=original.group(1),
    )
    assert unchanged.status_code == 303
    status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    assert status["tasks"][0]["rounds"][0]["edited_output"] is None

    kickoff_id = start_paused(api)
    page = alice.get(f"/ui/runs/{kickoff_id}").text
    digest = re.search(r'name="original_digest" value="([0-9a-f]{64})"', page)
    assert digest is not None
    edited = decide(
        alice,
        kickoff_id,
        "approved",
        edited_output="A cleaner draft.\r\n",
        original_digest=digest.group(1),
    )
    assert edited.status_code == 303
    status = wait_status(api, kickoff_id, state_is("SUCCESS"))
    [decided] = status["tasks"][0]["rounds"]
    assert (decided["edited_output"], decided["edited_by"]) == ("A cleaner draft.\n", "alice")
    assert status["tasks"][0]["output"] == "A cleaner draft.\n"


def test_a_round_after_a_rejection_shows_what_changed_and_what_was_asked(api, alice):
    kickoff_id = start_paused(api)
    first = alice.get(f"/ui/runs/{kickoff_id}").text
    assert "What changed since" not in first
    assert (
        decide(alice, kickoff_id, "rejected", feedback="Cite <the> 2023 survey").status_code == 303
    )
    wait_status(
        api,
        kickoff_id,
        lambda s: (s["pending_human_input"] or {}).get("round") == 2,
    )
    page = alice.get(f"/ui/runs/{kickoff_id}").text
    assert "What changed since round 1" in page
    assert "Cite &lt;the&gt; 2023 survey" in page
    diff = page[page.index('<div class="diff">') :]
    diff = diff[: diff.index("</div>")]
    assert "<ins>" in diff and "2023 survey" in diff
    assert "(round <del>1)\n</del><ins>2)\n</ins>" in diff, "the round number did not change"
