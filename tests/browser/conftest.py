"""Browser fixtures: both servers on free ports (agent keys configured), Debian's chromium driven by Playwright.

Never `playwright install`: the tests use /usr/bin/chromium (`bash scripts/web.sh --browser` installs it).
A missing browser, widget bundle or model fails the tests under CI or PRIORAUTH_REQUIRE_E2E=1
(scripts/test.sh) and skips them locally, with the reason (tests/required.py).
Every test's page fails it on an uncaught exception or a console error. Screenshots go to artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.required import require_or_skip
from tests.servers import ROOT, Assistant, find_model

CHROMIUM = Path(os.environ.get("PRIORAUTH_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BUNDLE = ROOT / "priorauth" / "web" / "static" / "vendor" / "rasa-webchat.js"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        require_or_skip(f"no chromium at {CHROMIUM}: run `bash scripts/web.sh --browser` (apt-get install -y chromium)")
    if not BUNDLE.exists():
        require_or_skip("the widget bundle is not installed: run `bash scripts/web.sh`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_or_skip("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def web(tmp_path_factory):
    """The servers of the web pages: the widget's socket.io, the agent channel (keys configured), /web/."""
    model = find_model()
    if model is None or not model.exists():
        require_or_skip("no trained model: run scripts/train.sh (scripts/test.sh trains one and sets PRIORAUTH_MODEL)")
    workdir = tmp_path_factory.mktemp("web")
    (workdir / "revoked.txt").write_text("# agents and tokens refused before their tokens expire\n")
    agent_keys = {
        "PRIORAUTH_AGENT_JWT_SECRET": secrets.token_hex(32),
        "PRIORAUTH_AGENT_CHANNEL_SECRET": secrets.token_hex(32),
        "PRIORAUTH_AGENT_REVOKED_FILE": str(workdir / "revoked.txt"),
    }
    servers = Assistant(model=model, workdir=workdir, extra_env=agent_keys)
    try:
        servers.start()
    except Exception:
        servers.stop()  # a server that started while the other did not must not outlive the run
        raise
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def mint(web):
    """mint(agent_id, minutes=30): a token from the README's command, `python -m priorauth agent-token`."""

    def mint(agent_id: str, minutes: int = 30) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "priorauth", "agent-token", agent_id, "--minutes", str(minutes)],
            cwd=ROOT,
            env=web.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    return mint


@pytest.fixture
def context(browser, web):
    context = browser.new_context(base_url=web.url, viewport={"width": 1100, "height": 800})
    context.set_default_timeout(30_000)
    yield context
    context.close()


def watched(page):
    """``page`` with ``page.errors`` (its uncaught exceptions and console errors) and ``page.expected_errors``
    (patterns of errors a test provokes on purpose, e.g. the 401 of a wrong token)."""
    page.errors = []
    page.expected_errors = []
    page.on("pageerror", lambda error: page.errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: message.type == "error" and page.errors.append(f"console: {message.text}"))
    return page


def unexpected_errors(page) -> list[str]:
    return [error for error in page.errors if not any(re.search(p, error) for p in page.expected_errors)]


@pytest.fixture
def page(context):
    """The test's page; any unexpected error in it fails the test at teardown, so no test can forget to look."""
    page = watched(context.new_page())
    yield page
    assert not unexpected_errors(page), f"errors in the page: {unexpected_errors(page)}"
