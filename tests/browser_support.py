"""What the browser tests share: the app served on a real socket (a werkzeug server thread on
127.0.0.1, a free port), Debian's Chromium driven by Playwright, the skip when that Chromium is
absent, and a staff user signed in through the back office's login form.

The module-scoped ``server`` and ``browser`` fixtures in tests/conftest.py are built on
live_server() and chromium(); a test that launches its own browser uses chromium() directly."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 120_000  # generous: the test machine may be busy running other suites
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)")


@contextmanager
def live_server(app) -> Iterator[str]:
    """The app on a real socket (not the test client), in a thread; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=5)


@contextmanager
def chromium():
    """Debian's Chromium, launched through Playwright; closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in_staff(page, server: str, user, login: str = "/login/") -> None:
    """Sign a staff user in through the back office's login form."""
    page.goto(f"{server}{login}")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form input[type=submit], form button[type=submit]").first.click()
    page.wait_for_load_state()
