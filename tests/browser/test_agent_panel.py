"""The agent side panel in a real browser, and its token-protected channel on the real Rasa server."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.pages import AgentPanel, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

QUERY = {"agent_id": "agent-7", "session": "token-check", "message": "p2p window"}


@pytest.fixture
def panel(context, page, web, agent_token):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.url)
    panel = AgentPanel(page).sign_in("agent-7", agent_token)
    expect(page.locator("#query")).to_be_visible()
    return panel


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing token: send the header 'Authorization: Bearer <token>'"),
        ("Bearer wrong-token", "invalid token"),
        ("{token}", "invalid token"),  # the token without its scheme
        ("Basic {token}", "invalid token"),
    ],
)
def test_the_agent_api_refuses_a_missing_or_wrong_token(web, agent_token, authorization, message):
    headers = {"Authorization": authorization.format(token=agent_token)} if authorization else {}
    for response in (
        requests.post(f"{web.url}/webhooks/agent/webhook", json=QUERY, headers=headers, timeout=30),
        requests.get(f"{web.url}/webhooks/agent/history", params=QUERY, headers=headers, timeout=30),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.json()["message"] == message
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_agent_api_answers_with_the_token(web, agent_token):
    response = requests.post(
        f"{web.url}/webhooks/agent/webhook",
        json=QUERY,
        headers={"Authorization": f"Bearer {agent_token}"},
        timeout=60,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["sender"] == "agent:agent-7:token-check"
    assert body["turns"][0]["custom"]["topic"] == "peer_to_peer"


def test_the_panel_says_when_the_token_is_wrong(page):
    page.expected_errors.append(r"status of 401 \(Unauthorized\)")  # the refused request, and nothing else
    AgentPanel(page).sign_in("agent-7", "not-the-token")
    expect(page.locator("#sign-in-error")).to_have_text("invalid token")
    expect(page.locator("#desk")).to_be_hidden()


def test_a_terse_query_gets_a_card_with_scope_and_citations(panel, page):
    card = panel.ask("27447 ASO").locator(".card")
    expect(card.locator(".badge")).to_have_text("Review required")
    expect(card.locator(".headline")).to_contain_text("27447 (Total knee replacement) needs AIM pre-service review")
    aso = panel.fact(card, "Self-insured (ASO): included")
    expect(aso.locator(".chip.plan")).to_have_text("Plan: Anthem Blue Cross")
    expect(aso.locator(".chip.lob")).to_have_text("LOB: Fully insured, ASO (self-insured)")
    expect(aso.locator(".cite summary").first).to_contain_text("Source 000")
    knee = panel.fact(card, "Total knee replacement is on the list")
    expect(knee.locator(".chip.program")).to_have_text("Program: Joint surgery")
    expect(knee.locator(".cite summary")).to_have_text("Source 002 · AIM Musculoskeletal Program FAQ")
    expect(card.locator(".needs")).to_contain_text("setting")
    panel.scroll_to(card)
    screenshot(page, "agent-panel-card")


def test_contacts_show_their_region_and_copy_to_the_clipboard(panel, page):
    card = panel.ask("phone ME").locator(".card")
    phone = panel.fact(card, "866-714-1107")
    expect(phone.locator(".chip.region")).to_have_text("Region: ME")
    phone.locator(".copy").click()
    expect(phone.locator(".copy")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Phone 866-714-1107 · Monday – Friday, 8:00 a.m.–5:00 p.m.")
    assert "Region: ME" in copied and "Source: 004 Anthem Maine Provider News" in copied


def test_the_session_history_survives_a_reload_and_a_new_caller_starts_afresh(panel, page):
    panel.ask("p2p window")
    panel.ask("phone ME")
    page.reload()
    expect(page.locator("#log .turn.user")).to_have_text(["p2p window", "phone ME"])
    expect(page.locator("#log .card")).to_have_count(2)
    expect(page.locator("#log .card").first).to_contain_text("peer-to-peer discussion at any time")
    page.set_viewport_size({"width": 400, "height": 900})
    screenshot(page, "agent-panel-history")

    page.click("#new-caller")
    expect(page.locator("#log .turn")).to_have_count(0)
    page.reload()
    expect(page.locator("#query")).to_be_visible()
    expect(page.locator("#log .turn")).to_have_count(0)
