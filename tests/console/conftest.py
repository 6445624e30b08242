"""Browser tests of the web console: a real server in a thread, Debian's chromium driven by Playwright.

Nothing downloads a browser: Playwright launches `/usr/bin/chromium` (installed by `make test`
when missing). Without it these tests skip on a laptop and fail when `CI=true`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from factflow_server.testing import RunningServer, embedded_settings, serve_in_thread

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPELINES_DIR = REPO_ROOT / "backend" / "config" / "pipelines"
EXPECT_TIMEOUT_MS = 30_000


def chromium_path() -> str | None:
    """The system chromium, from `FACTFLOW_CHROMIUM` or the PATH."""
    configured = os.environ.get("FACTFLOW_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Module scope, not session: Playwright's sync API keeps an event loop running on this thread
# while it is open, which would break every asyncio test collected after these modules.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if chromium_path() is None:
        message = "chromium is not installed (`make chromium` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = chromium_path()
    assert executable is not None
    launched = playwright.chromium.launch(executable_path=executable)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context and page; uncaught page errors fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert errors == [], f"errors in the page: {errors}"


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """An embedded server with the shipped demo pipeline, as `make run` starts it."""
    settings = embedded_settings(tmp_path_factory.mktemp("console"), pipelines_dir=PIPELINES_DIR)
    with serve_in_thread(settings) as running:
        yield running
