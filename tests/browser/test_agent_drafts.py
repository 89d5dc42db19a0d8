"""A draft request opened, filled, reviewed and exported from the agent side panel, owned by the agent."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import unexpected_errors, watched
from tests.browser.pages import AgentPanel, screenshot
from tests.dates import service_date, us_date

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

MEMBER_ID = "ABC123456789"
CALLER_FIELDS = (
    f"member id {MEMBER_ID}, dob 3/4/1960, ordering NPI 1234567893, tax id 12-3456789, "
    "servicing NPI 1245319599, facility Mercy Surgery Center, setting ASC"
)


def owner_of(web, reference: str) -> str | None:
    row = saved(web, reference)
    return row["owner"] if row else None


def saved(web, reference: str) -> dict | None:
    """The draft as stored in the database behind the servers (not as any reply shows it)."""
    with sqlite3.connect(web.workdir / "priorauth.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM drafts WHERE reference = ?", (reference,)).fetchone()
    if row is None:
        return None
    found = dict(row)
    found["procedure_codes"] = json.loads(found["procedure_codes"]) if found["procedure_codes"] else None
    return found


def reference_in(locator) -> str:
    return re.search(r"DR-[0-9A-Z]{6}", locator.inner_text()).group(0)


@pytest.fixture
def panel(context, page, web, mint):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.url)
    panel = AgentPanel(page).sign_in(mint("agent-7"))
    expect(page.locator("#query")).to_be_visible()
    return panel


def test_a_draft_opened_from_the_panel_belongs_to_the_agent_and_exports(panel, page, web, browser, mint):
    started = panel.click_action("New draft")
    expect(started).to_contain_text("I've started draft request")
    reference = re.search(r"DR-[0-9A-Z]{6}", started.inner_text()).group(0)
    assert owner_of(web, reference) == "agent:agent-7"

    expect(panel.ask(CALLER_FIELDS)).to_contain_text("Which procedure codes")
    expect(panel.ask("27447")).to_contain_text("diagnosis codes")
    expect(panel.ask("M17.11")).to_contain_text("date of service")
    expect(panel.ask(f"DOS {us_date(service_date())}")).to_contain_text(f"Draft request {reference} is complete")

    card = panel.click_action("Draft summary").locator(".card.draft")
    expect(card.locator(".headline")).to_have_text(f"Draft {reference}")
    expect(card.locator(".badge")).to_have_text("Ready to export")
    expect(card.locator("dd[data-field=member_id]")).to_have_text("****6789")
    expect(card.locator("dd[data-field=procedure_codes]")).to_have_text("27447")
    expect(card).not_to_contain_text(MEMBER_ID)
    panel.scroll_to(card)
    screenshot(page, "agent-panel-draft")

    exported = panel.click_action("Export draft").locator(".card.export")
    expect(exported.locator(".headline")).to_have_text(f"Export of draft {reference}")
    exported.locator("button", has_text="Copy JSON").click()
    expect(exported.locator("button", has_text="Copied")).to_be_visible()
    bundle = json.loads(page.evaluate("navigator.clipboard.readText()"))
    claim = bundle["entry"][0]["resource"]
    assert bundle["resourceType"] == "Bundle" and claim["use"] == "preauthorization"
    with page.expect_download() as download:
        exported.locator("button", has_text="Download").click()
    assert download.value.suggested_filename == f"{reference}-pas-bundle.json"

    # Another agent, signed in elsewhere, does not get this agent's draft.
    other = browser.new_context(base_url=web.url)
    try:
        other_page = watched(other.new_page())
        reply = AgentPanel(other_page).sign_in(mint("agent-8")).ask(f"show draft {reference}")
        expect(reply).to_contain_text("belongs to another conversation")
        expect(reply).not_to_contain_text("6789")
        assert not unexpected_errors(other_page), other_page.errors
    finally:
        other.close()
    assert owner_of(web, reference) == "agent:agent-7"


# ---------------------------------------------------------------- issue 18's conversations, in the panel
def test_a_review_answer_offers_a_draft_for_its_code_and_the_button_prefills_it(panel, page, web):
    answer = panel.ask("29881 PA?")
    started = panel.click_reply(answer, "Start a draft request for 29881")
    expect(started).to_contain_text("From our conversation I've filled in: Procedure codes 29881.")
    reference = reference_in(started)
    draft = saved(web, reference)
    assert draft["owner"] == "agent:agent-7" and draft["procedure_codes"] == ["29881"]


def test_corrections_in_the_panel_are_confirmed_masked_and_saved_and_whats_left_lists_the_rest(panel, page, web):
    reference = reference_in(panel.click_action("New draft"))
    expect(panel.ask(f"member id {MEMBER_ID}, dob 3/4/1960")).to_contain_text("ordering provider")
    corrected = panel.ask("change the dob to 03/05/1961")
    expect(corrected).to_contain_text("Date of birth updated (**/05/1961).")
    expect(corrected).not_to_contain_text("1961-03-05")
    unasked = panel.ask("the DOS is " + us_date(service_date()))
    expect(unasked).to_contain_text("Date of service")
    draft = saved(web, reference)
    assert draft["member_dob"] == "1961-03-05" and draft["date_of_service"] == service_date().isoformat()
    left = panel.ask("what do you still need?")
    expect(left).to_contain_text(f"Draft request {reference} still needs")
    expect(left).to_contain_text("Ordering provider NPI")
    expect(left).not_to_contain_text("Date of service,")


def test_cancel_in_the_panel_asks_first_no_keeps_the_draft_and_yes_cancels_it(panel, page, web):
    reference = reference_in(panel.click_action("New draft"))
    panel.ask(f"member id {MEMBER_ID}")
    asked = panel.ask("cancel this draft")
    expect(asked).to_contain_text(f"Cancel draft request {reference}? This can't be undone.")
    kept = panel.click_reply(asked, "No, keep it")
    expect(kept).to_contain_text(f"OK, I'm keeping draft request {reference}.")
    assert saved(web, reference)["status"] == "open"
    asked = panel.ask("cancel this draft")
    cancelled = panel.click_reply(asked, "Yes, cancel it")
    expect(cancelled).to_contain_text(f"Draft request {reference} is cancelled.")
    assert saved(web, reference)["status"] == "cancelled"
