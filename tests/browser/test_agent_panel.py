"""The agent side panel in a real browser, and its agent-token-protected channel on the real Rasa server."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import unexpected_errors, watched
from tests.browser.pages import AgentPanel, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

QUERY = {"session": "token-check", "message": "p2p window"}


@pytest.fixture
def panel(context, page, web, mint):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.url)
    panel = AgentPanel(page).sign_in(mint("agent-7"))
    expect(page.locator("#query")).to_be_visible()
    return panel


def foreign_token() -> str:
    """A well-formed token for agent-7 signed with a key this server does not know."""
    now = int(time.time())
    claims = {"sub": "agent-7", "aud": "priorauth-agent", "iat": now, "exp": now + 600}
    return jwt.encode(claims, "x" * 64, algorithm="HS256")


@pytest.mark.parametrize(
    ("authorization", "code", "message"),
    [
        (None, "missing_token", "missing token: sign in"),
        ("Bearer wrong-token", "invalid_token", "invalid token: not a JWT"),
        ("{token}", "invalid_token", "invalid token: send it as 'Authorization: Bearer <agent token>'"),
        ("Basic {token}", "invalid_token", "invalid token: send it as 'Authorization: Bearer <agent token>'"),
        ("Bearer {foreign}", "invalid_token", "invalid token: its signature matches no key"),
    ],
)
def test_the_agent_api_refuses_a_missing_or_wrong_token(web, mint, authorization, code, message):
    filled = authorization and authorization.format(token=mint("agent-7"), foreign=foreign_token())
    headers = {"Authorization": filled} if filled else {}
    for response in (
        requests.post(f"{web.url}/webhooks/agent/webhook", json=QUERY, headers=headers, timeout=30),
        requests.get(f"{web.url}/webhooks/agent/history", params=QUERY, headers=headers, timeout=30),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == code
        assert response.json()["message"].startswith(message)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_agent_api_answers_as_the_tokens_agent(web, mint):
    response = requests.post(
        f"{web.url}/webhooks/agent/webhook",
        json=QUERY,
        headers={"Authorization": f"Bearer {mint('agent-7')}"},
        timeout=60,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["sender"] == "agent:agent-7:token-check" and body["agent_id"] == "agent-7"
    assert body["turns"][0]["custom"]["topic"] == "peer_to_peer"


def test_signing_in_shows_the_agent_id_from_the_token(panel, page):
    expect(page.locator("#agent-label")).to_have_text("Agent agent-7")
    expect(page.locator("#agent-until")).to_contain_text("until ")
    expect(page.locator("#sign-in-error")).to_be_hidden()


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-the-token", "This is not an agent token: paste the whole token"),
        ("{foreign}", "The server refused this token: invalid token: its signature matches no key"),
    ],
)
def test_the_panel_says_when_the_token_is_wrong(page, token, message):
    if token != "not-the-token":  # the panel refuses a non-token itself; a foreign one is refused by the server
        page.expected_errors.append(r"status of 401 \(Unauthorized\)")
    AgentPanel(page).sign_in(token.format(foreign=foreign_token()))
    expect(page.locator("#sign-in-error")).to_contain_text(message)
    expect(page.locator("#desk")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0  # a refused token is not kept


def test_the_panel_signs_out_when_the_token_expires(context, web, mint):
    context.clock.install()
    page = watched(context.new_page())
    AgentPanel(page).sign_in(mint("agent-7", minutes=1))
    expect(page.locator("#query")).to_be_visible()
    page.clock.fast_forward("01:05")
    expect(page.locator("#sign-in-error")).to_have_text("Your sign-in expired. Sign in again with a new token.")
    expect(page.locator("#desk")).to_be_hidden()
    assert not unexpected_errors(page), unexpected_errors(page)


def test_the_panel_signs_out_and_says_why_when_the_token_is_revoked(page, web, mint):
    panel = AgentPanel(page).sign_in(mint("agent-leaving"))
    expect(panel.ask("p2p window")).to_contain_text("peer-to-peer")
    revoked = web.workdir / "revoked.txt"
    revoked.write_text(revoked.read_text() + "agent:agent-leaving\n")
    page.expected_errors.append(r"status of 401 \(Unauthorized\)")  # the refused request, and nothing else
    try:
        page.fill("#query", "phone ME")
        page.press("#query", "Enter")
        expect(page.locator("#sign-in-error")).to_have_text(
            "Your token was revoked. Ask your administrator for a new one."
        )
        expect(page.locator("#desk")).to_be_hidden()
        expect(page.locator("#log .turn")).to_have_count(0)
    finally:
        revoked.write_text(revoked.read_text().replace("agent:agent-leaving\n", ""))


def test_a_terse_query_gets_a_card_with_scope_and_citations(panel, page):
    # The plan named: Anthem Blue Cross's own line-of-business scope decides (issue 14), with its plan chip.
    card = panel.ask("27447 ASO Anthem Blue Cross").locator(".card")
    expect(card.locator(".badge")).to_have_text("Review required")
    expect(card.locator(".headline")).to_contain_text("The sources name the procedure, not the code: 27447")
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
