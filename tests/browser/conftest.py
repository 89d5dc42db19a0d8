"""Browser fixtures: both servers on free ports (agent keys configured), Debian's chromium driven by Playwright.

Never `playwright install`: the tests use /usr/bin/chromium (`bash scripts/web.sh --browser` installs it).
With PRIORAUTH_REQUIRE_E2E=1 (scripts/test.sh) or CI a missing browser, widget bundle or model fails the
tests instead of skipping them. Screenshots go to artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

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


def missing(message: str) -> None:
    if os.environ.get("CI") or os.environ.get("PRIORAUTH_REQUIRE_E2E"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        missing(f"no chromium at {CHROMIUM}: run `bash scripts/web.sh --browser` (apt-get install -y chromium)")
    if not BUNDLE.exists():
        missing("the widget bundle is not installed: run `bash scripts/web.sh`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def web(tmp_path_factory):
    """The servers of the web pages: the widget's socket.io, the agent channel (keys configured), /web/."""
    model = find_model()
    if model is None or not model.exists():
        missing("no trained model: run scripts/train.sh (scripts/test.sh trains one and sets PRIORAUTH_MODEL)")
    workdir = tmp_path_factory.mktemp("web")
    (workdir / "revoked.txt").write_text("# agents and tokens refused before their tokens expire\n")
    agent_keys = {
        "PRIORAUTH_AGENT_JWT_SECRET": secrets.token_hex(32),
        "PRIORAUTH_AGENT_CHANNEL_SECRET": secrets.token_hex(32),
        "PRIORAUTH_AGENT_REVOKED_FILE": str(workdir / "revoked.txt"),
    }
    servers = Assistant(model=model, workdir=workdir, extra_env=agent_keys)
    servers.start()
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


@pytest.fixture
def page(context):
    page = context.new_page()
    page.errors = []  # uncaught exceptions in the page fail the test that looks at them
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
