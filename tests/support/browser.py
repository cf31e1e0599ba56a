"""Debian's Chromium driven by Playwright, kept off the network: no browser download, and no
look-up of any host but loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
MISSING = f"{CHROMIUM} is missing (apt-get install -y chromium)"


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def running_chromium() -> Iterator[Browser]:
    """Chromium for a test module's `browser` fixture (`yield from running_chromium()`)."""
    with sync_playwright() as playwright:
        running = launch(playwright)
        yield running
        running.close()
