"""Screenshots of the reviewer's inbox for the README: starts a stack of its own, pauses a few
runs of the research crew, has bob reject one, and saves what alice sees.

    .venv/bin/python scripts/screenshots.py      # writes docs/inbox.png and docs/run-page.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from browser import launch  # noqa: E402
from crew_hitl.crew.settings import Settings  # noqa: E402
from flow import resume, wait_status  # noqa: E402
from reviewers import ALICE, BOB, api_client, reviewer_stack, start_paused  # noqa: E402

TOPICS = ["Coral reef restoration", "Solid-state batteries", "AI Research"]
FEEDBACK = "Add a source for every point, and drop the ones older than 2020."
VIEWPORT = {"width": 1100, "height": 720}


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


def main() -> None:
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(crews_dir=ROOT / "crews", status_query_timeout=2)
        pause_runs(settings, docs, Path(tmp))
    print(f"wrote {docs / 'inbox.png'} and {docs / 'run-page.png'}")


if __name__ == "__main__":
    main()
