"""The shape of an answer over REST: the direct answer first, only the facts that bear on the question, one
Source line on its own line, within the length budgets; the whole topic one step away ("More"), the structured
payload complete; a second opinion before the fallback."""

from __future__ import annotations

import re
import uuid

import pytest

PROVIDER_LIMIT = 900  # never more, whatever the question
PROVIDER_USUAL = 600
AGENT_LIMIT = 400
SOURCE_LINE = re.compile(r"\nSource: [^\n]+ \(00\d_[0-9a-f]{16}\.txt\)(; [^\n]+ \(00\d_[0-9a-f]{16}\.txt\))*$")


def sender() -> str:
    return f"shape-{uuid.uuid4().hex[:10]}"


def reply(assistant, message: str, who: str | None = None) -> tuple[str, dict | None, list[dict]]:
    messages = assistant.ask(who or sender(), message)
    text = "\n".join(m["text"] for m in messages if m.get("text"))
    custom = next((m["custom"] for m in messages if m.get("custom")), None)
    buttons = [b for m in messages for b in m.get("buttons") or []]
    return text, custom, buttons


def first_sentence(text: str) -> str:
    return re.split(r"(?<=[.?!])\s|\n", text.strip(), maxsplit=1)[0]


# (message, the first sentence must match, words that would be another subject, asked by an agent?)
DIRECT_ANSWERS = [
    ("our practice wants to book a total shoulder replacement, AIM precert needed?", r"^Yes\b", "10 business", False),
    ("is a knee arthroscopy something AIM has to approve beforehand", r"^Yes\b", "10 business", False),
    ("how long does an approval for a lumbar discectomy stay good", r"60 calendar days", "10 business", False),
    ("TSA auth how long", r"60 calendar days", "10 business", True),
    ("how many days after a denial can we still ask AIM to reconsider", r"10 days of the denial", "Step 1", False),
    ("which reviewer makes the call to deny a case", r"physician reviewer", "Register Now", False),
    ("we'd schedule it at a surgery center, is there the extra facility review then?", r"no additional", "Step", False),
    ("what info do I have to have ready to make a ProviderPortal account", r"e-mail address", "denial", False),
    ("portal web address", r"providerportal\.com", "denial", True),
    ("does the clinical review need my NPI or the Tax ID to sign up", r"Tax ID", "denial", False),
]


@pytest.mark.parametrize(
    ("message", "first", "other", "agent"), DIRECT_ANSWERS, ids=[d[0][:30] for d in DIRECT_ANSWERS]
)
def test_the_first_sentence_answers_the_question(assistant, message, first, other, agent):
    text, _, _ = reply(assistant, message)
    assert re.search(first, first_sentence(text), re.I), f"first sentence of the reply to {message!r}:\n{text}"
    assert other.lower() not in text.lower(), f"another subject ({other!r}) in the reply to {message!r}:\n{text}"
    assert len(text) <= (AGENT_LIMIT if agent else PROVIDER_USUAL), f"{len(text)} chars for {message!r}:\n{text}"


@pytest.mark.parametrize(
    "message",
    [
        "does a total hip replacement need a pre-service review from AIM",
        "what happens after I submit a request",
        "what is site of care review",
        "how do I register for the ProviderPortal",
        "what changed in the pain management guideline",
        "which joint surgeries are included",
    ],
)
def test_a_reply_ends_with_one_source_line_and_keeps_to_its_budget(assistant, message):
    text, payload, buttons = reply(assistant, message)
    assert SOURCE_LINE.search(text), f"no Source line on its own line at the end:\n{text}"
    assert text.count("Source:") == 1 and "\n\n" not in text
    assert len(text) <= PROVIDER_LIMIT, f"{len(text)} chars:\n{text}"
    # The whole topic stays in the payload, and one tap away when the reply left something out.
    assert payload["full_text"].startswith(text.split("\n")[0][:20]) or len(payload["full_text"]) >= len(text)
    if payload["shortened"]:
        assert {"title": "More", "payload": "/ask_more"} in buttons


def test_more_shows_the_whole_topic(assistant):
    who = sender()
    short, payload, buttons = reply(assistant, "what happens after I submit a request for review", who)
    assert payload["shortened"] and buttons and len(short) <= PROVIDER_USUAL
    full, full_payload, more_buttons = reply(assistant, "/ask_more", who)
    assert len(full) > len(short) and "registered nurse" in full and "order number" in full
    assert not more_buttons and full_payload["facts"] == payload["facts"]


def test_the_payload_keeps_every_fact_while_the_text_is_short(assistant):
    text, payload, _ = reply(assistant, "who decides when a musculoskeletal request is denied")
    assert len(payload["facts"]) >= 5 and all(f["citations"] for f in payload["facts"])
    assert len(text) < len(payload["full_text"])


def test_a_question_outside_the_sources_is_short_and_routes_to_the_id_card(assistant):
    text, _, _ = reply(assistant, "what is the allowed amount Anthem pays for a hip replacement")
    assert "ID card" in text and len(text) <= PROVIDER_USUAL


def test_an_unsure_classifier_gets_a_second_opinion_from_the_facts(assistant):
    # Wording the classifier has not seen, but the facts of one topic answer plainly.
    text, _, _ = reply(assistant, "remit message letter claim lacked pre-service review — obtain what now?")
    assert "post-service" in text.lower() and "Sorry, I didn't quite understand" not in text


def test_a_message_that_matches_nothing_is_asked_to_rephrase(assistant):
    text, _, _ = reply(assistant, "qwzx plorb vrank")
    assert "rephrase" in text.lower()
