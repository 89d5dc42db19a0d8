"""Page objects of the two faces, the provider chat widget and the agent side panel, for the browser tests."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.servers import ROOT

ARTIFACTS = ROOT / "artifacts"
ANSWER_TIMEOUT = 30_000


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.evaluate("Promise.all(document.getAnimations().map((a) => a.finished))")  # the widget fades in
    page.screenshot(path=str(path))
    return path


class Widget:
    """The rasa-webchat widget on the provider-resources page (/web/)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.messages = page.locator(".rw-messages-container")

    def open(self) -> Widget:
        self.page.goto("/web/")
        launcher = self.page.locator(".rw-launcher")
        launcher.wait_for()  # the widget renders once its socket is connected
        if not self.page.locator(".rw-conversation-container").is_visible():
            launcher.click()
        expect(self.page.locator(".rw-conversation-container")).to_be_visible()
        return self

    def wait_for_greeting(self) -> Widget:
        expect(self.response("What can I help with?")).to_be_visible(timeout=ANSWER_TIMEOUT)
        return self

    def response(self, text: str):
        return self.page.locator(".rw-response").filter(has_text=text)

    def send(self, text: str) -> None:
        box = self.page.locator(".rw-new-message")
        box.fill(text)
        box.press("Enter")

    def ask(self, text: str, expected: str):
        self.send(text)
        answer = self.response(expected).last
        expect(answer).to_be_visible(timeout=ANSWER_TIMEOUT)
        return answer

    def session_id(self) -> str:
        return json.loads(self.page.evaluate("localStorage.getItem('chat_session')"))["session_id"]


class AgentPanel:
    """The agent side panel (/web/agent.html)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.log = page.locator("#log")

    def sign_in(self, token: str) -> AgentPanel:
        """Pastes the agent's token into the sign-in form (the agent id comes from the token)."""
        self.page.goto("/web/agent.html")
        self.page.fill("#token", token)
        self.page.click("#sign-in button[type=submit]")
        return self

    def ask(self, text: str):
        """Sends a query; returns the exchange (the query and all its replies) once the replies are in."""
        return self._exchange(lambda: (self.page.fill("#query", text), self.page.press("#query", "Enter")))

    def click_action(self, label: str):
        """Clicks one of the draft buttons; returns its exchange once the replies are in."""
        return self._exchange(lambda: self.page.locator(".actions button", has_text=label).click())

    def click_reply(self, exchange, title: str):
        """Clicks a reply button of an exchange (a quick reply the assistant offered); returns its exchange."""
        return self._exchange(lambda: exchange.locator(".replies button", has_text=title).click())

    def _exchange(self, act):
        before = self.page.locator("#log .exchange").count()
        act()
        exchange = self.page.locator("#log .exchange").nth(before)
        expect(exchange).to_have_attribute("data-done", "true", timeout=ANSWER_TIMEOUT)
        return exchange

    def scroll_to(self, locator) -> None:
        """Brings an element to the top, below the sticky bars."""
        locator.evaluate("(e) => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 90)")

    def fact(self, card, text: str):
        return card.locator(".fact").filter(has_text=text).first
