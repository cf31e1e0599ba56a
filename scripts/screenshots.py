"""Screenshots for the README. Starts a stack of its own, pauses a few runs of the research crew,
has bob reject one, and saves what alice sees in the reviewer's inbox and what an operator sees
in the Temporal Web UI; then, on another stack, decides runs of two crews and saves the leads'
page.

    .venv/bin/python scripts/screenshots.py         # all of them
    .venv/bin/python scripts/screenshots.py leads   # only docs/leads.png
    # writes docs/inbox.png, docs/run-page.png, docs/temporal-ui-pending.png,
    # docs/temporal-ui-run.png and docs/leads.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from crew_hitl.settings import Settings  # noqa: E402
from runner.stack import Stack  # noqa: E402
from support import (  # noqa: E402
    ALICE,
    BOB,
    api_client,
    crews_dir,
    launch,
    resume,
    reviewer_stack,
    start_paused,
    wait_status,
)

TOPICS = ["Coral reef restoration", "Solid-state batteries", "AI Research"]
FEEDBACK = "Add a source for every point, and drop the ones older than 2020."
VIEWPORT = {"width": 1100, "height": 720}
# The Temporal UI is a single-page app that lays itself out for a wide window; its run page
# needs the height to show the summary and all four commands of the current details.
TEMPORAL_LIST_VIEWPORT = {"width": 1280, "height": 560}
TEMPORAL_RUN_VIEWPORT = {"width": 1280, "height": 1100}
PENDING_QUERY = 'CrewState="PENDING_HUMAN_INPUT"'
HIDDEN_COLUMNS = ["Run ID", "Type", "Start", "End"]
CREW_COLUMNS = ["CrewName", "CrewState", "PendingTaskId"]
UI_TIMEOUT_MS = 30_000
PICTURES = ["inbox.png", "run-page.png", "temporal-ui-pending.png", "temporal-ui-run.png"]
LEADS_PICTURE = "leads.png"
# The leads' page's runs: (crew, inputs, task, decisions of each run; the last left waiting
# when the list ends with None).
LEADS_RUNS = [
    ("research", {"topic": "Tidal energy"}, "research_task", [None]),
    ("research", {"topic": "Heat pumps"}, "research_task", [None]),
    ("research", {"topic": "Grid storage"}, "research_task", [None]),
    ("research", {"topic": "Green steel"}, "research_task", [False, None]),
    ("research", {"topic": "Coral reefs"}, "research_task", [False, True]),
    ("research", {"topic": "Soil carbon"}, "research_task", [False, False, True]),
    ("research", {"topic": "Wind farms"}, "research_task", [True]),
    ("long_review", {"subject": "the budget"}, "draft_task", [None]),
    ("long_review", {"subject": "the roadmap"}, "draft_task", [True]),
    ("long_review", {"subject": "the hiring plan"}, "draft_task", [False, True]),
    ("long_review", {"subject": "the launch"}, "draft_task", [True]),
]


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/ui/sign-in")
    page.get_by_label("API token").fill(ALICE)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".bar .reviewer")).to_have_text("alice")


def pause_runs(base_settings: Settings, docs: Path, tmp: Path) -> None:
    with reviewer_stack(base_settings, tmp) as stack:
        with api_client(stack, BOB) as api:
            ids = [start_paused(api, inputs={"topic": topic}) for topic in TOPICS]
            rejected = ids[-1]
            assert resume(api, rejected, "research_task", False, FEEDBACK, round=1).is_success
            wait_status(api, rejected, lambda s: (s["pending_human_input"] or {}).get("round") == 2)
        shoot(stack.settings.api_url, rejected, docs)
        shoot_temporal_ui(stack, ids, rejected, docs)


def shoot(base: str, rejected: str, docs: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        sign_in(page, base)
        page.goto(f"{base}/ui")
        page.screenshot(path=docs / "inbox.png", full_page=True)
        page.goto(f"{base}/ui/runs/{rejected}")
        page.get_by_label("Feedback").fill("Better. Keep the summary to five points.")
        page.screenshot(path=docs / "run-page.png", full_page=True)
        browser.close()


def temporal_ui_url(stack: Stack) -> str:
    """The Web UI of the stack's dev server, at its namespace."""
    settings = stack.settings
    return f"http://127.0.0.1:{settings.temporal_ui_port}/namespaces/{settings.temporal_namespace}"


def shoot_temporal_ui(stack: Stack, paused: list[str], shown: str, docs: Path) -> None:
    """The workflow list filtered on paused runs, and one paused run's summary and details."""
    base = temporal_ui_url(stack)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport=TEMPORAL_LIST_VIEWPORT, device_scale_factor=1)
        page.set_default_timeout(UI_TIMEOUT_MS)
        shoot_pending_list(page, base, paused, docs / "temporal-ui-pending.png")
        page.set_viewport_size(TEMPORAL_RUN_VIEWPORT)
        shoot_run_details(page, base, shown, docs / "temporal-ui-run.png")
        browser.close()


def shoot_pending_list(page: Page, base: str, paused: list[str], path: Path) -> None:
    page.goto(f"{base}/workflows?query={quote(PENDING_QUERY)}")
    page.get_by_role("button", name="Collapse Navigation").click()
    show_crew_columns(page)
    rows = page.get_by_role("row").filter(has_text="PENDING_HUMAN_INPUT")
    expect(rows).to_have_count(len(paused), timeout=UI_TIMEOUT_MS)
    for kickoff_id in paused:
        expect(page.get_by_role("link", name=kickoff_id)).to_be_visible()
    page.screenshot(path=path, animations="disabled")


def show_crew_columns(page: Page) -> None:
    """Through the table's own settings (kept in the browser): the crew's search attributes
    in place of the run id, type and times."""
    page.get_by_role("button", name="Configure Columns").click()
    for column in HIDDEN_COLUMNS:
        page.get_by_role("button", name=f"Remove {column} column").click()
    for column in CREW_COLUMNS:
        page.get_by_role("button", name=f"Add {column} column").click()
    page.get_by_role("button", name="Close Workflows Table configuration").click()
    expect(page.get_by_role("columnheader", name="PendingTaskId")).to_be_visible()


def shoot_run_details(page: Page, base: str, kickoff_id: str, path: Path) -> None:
    """The User Metadata tab; the UI renders the summary and the details (markdown) each in
    a frame of its own, the summary's first."""
    page.goto(f"{base}/workflows/{kickoff_id}")
    page.get_by_role("tab", name="User Metadata").click()
    summary, details = page.frame_locator("iframe").first, page.frame_locator("iframe").last
    expect(summary.get_by_text("crew research — topic: AI Research")).to_be_visible()
    expect(details.get_by_text("PENDING_HUMAN_INPUT")).to_be_visible()
    expect(details.get_by_text("Reject over HTTP:")).to_be_visible()
    page.screenshot(path=path, animations="disabled")


def decide_runs(api: httpx.Client) -> None:
    """The runs of LEADS_RUNS, each decided as it says: rejected (False), approved (True), or
    left waiting (None)."""
    for crew, inputs, task, decisions in LEADS_RUNS:
        kickoff_id = start_paused(api, inputs=inputs, crew=crew)
        for number, approve in enumerate(decisions, start=1):
            if approve is None:
                break
            wait_status(api, kickoff_id, lambda s, n=number: waiting_round(s) == n)
            assert resume(api, kickoff_id, task, approve, "", round=number).is_success


def waiting_round(status: dict[str, Any]) -> int | None:
    return (status["pending_human_input"] or {}).get("round")


def shoot_leads(base_settings: Settings, docs: Path, tmp: Path) -> None:
    settings = base_settings.model_copy(update={"crews_dir": crews_dir(tmp)})
    with reviewer_stack(settings, tmp) as stack:
        with api_client(stack, BOB) as api:
            decide_runs(api)
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
            sign_in(page, stack.settings.api_url)
            page.goto(f"{stack.settings.api_url}/ui/leads")
            expect(page.locator("svg.rejections g.bar")).to_have_count(2)
            page.screenshot(path=docs / LEADS_PICTURE, full_page=True)
            browser.close()


def main() -> None:
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    only_leads = sys.argv[1:] == ["leads"]
    settings = Settings(crews_dir=ROOT / "crews", status_query_timeout=2)
    if not only_leads:
        with tempfile.TemporaryDirectory() as tmp:
            pause_runs(settings, docs, Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        shoot_leads(settings, docs, Path(tmp))
    written = [LEADS_PICTURE] if only_leads else [*PICTURES, LEADS_PICTURE]
    print("wrote " + ", ".join(str(docs / name) for name in written))


if __name__ == "__main__":
    main()
