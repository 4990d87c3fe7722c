"""Browser tests: Playwright (Python) driving the system's Chromium against pytest-django's
``live_server``. Never downloads a browser: ``/usr/bin/chromium`` (Debian's package; ``.ci/run``
installs it) or ``CHROMIUM_PATH``. Screenshots of the key pages go to ``var/screenshots/``
(``SCREENSHOT_DIR``), kept by CI as artifacts."""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", REPO / "var" / "screenshots"))
# Each page records the Content-Security-Policy violations it sees (Playwright runs this before
# the page's own scripts; the policy does not apply to it).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline code"}` +
    ` (${event.sourceFile || location.href}:${event.lineNumber})`
  );
});
"""


@pytest.fixture(scope="session")
def browser():
    from fmugateway.testing import running_in_ci

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if running_in_ci():
            pytest.fail(f"{reason}; CI=true so this is an error, not a skip", pytrace=False)
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev.txt pins it
        pytest.fail("playwright is not installed (pip install -r requirements-dev.txt)")
    # Playwright's sync API runs an event loop; Django refuses ORM calls from a thread with a
    # running loop unless told this is deliberate (the tests set up data through the ORM).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(15_000)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    refused: list[str] = []
    # Chromium also logs each violation to the console, which outlives page loads.
    page.on(
        "console",
        lambda message: (
            refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.csp_console = refused
    yield page
    context.close()
    assert refused == [], "the Content-Security-Policy refused something on a page"


def csp_violations(page) -> list[str]:
    """The violations the current page reported, and any Chromium logged since the last call."""
    reported = page.evaluate("window.__cspViolations || []")
    logged = list(page.csp_console)
    page.csp_console.clear()
    return reported + logged


def shot(page, name: str) -> Path:
    """Save a full-page screenshot ``var/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str


@pytest.fixture
def demo_accounts(
    live_server, transactional_db, sample_fmus, settings, tmp_path, monkeypatch
) -> dict[str, DemoAccount]:
    """The demo accounts and data exactly as ``make setup`` makes them (``seed_demo`` then
    ``seed_storefront``; not superusers or factories), by role: ``admin``, ``moderator``,
    ``creator``, ``buyer``. The samples are the session's built ones (no second build)."""
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(
        "demo.management.commands.seed_demo.build_sample_fmus",
        lambda out_dir: list(sample_fmus.values()),
    )
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_storefront", stdout=io.StringIO())
    accounts = {}
    for line in (tmp_path / "demo-credentials.txt").read_text(encoding="utf-8").splitlines():
        email, password = line.split()
        accounts[email.split("@")[0]] = DemoAccount(email, password)
    return accounts
