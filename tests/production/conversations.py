"""Scripted conversations for the production layer: 12 turns each, every reply checked for its facts.

A turn is (message, facts the reply must contain, facts it must not contain). The scripts mix context
(follow-ups that need the turn before: "and for a hip?", "for Maine"), so a conversation whose turns
land on different replicas only passes if the tracker travelled with it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

NOT_KNOWN = "can't answer that from my sources"

Turn = tuple[str, list[str], list[str]]

SCRIPTS: dict[str, list[Turn]] = {
    "validity, codes, settings, contacts": [
        ("hi there", ["prior authorization"], []),
        ("how long is a pain management approval valid?", ["10 business days"], ["60 calendar days"]),
        ("and for a hip?", ["60 calendar days"], ["10 business days"]),  # "hip" alone: either hip procedure, 60 days
        ("does 27447 need PA?", ["The sources name the procedure, not the code", "Total knee replacement"], ["Yes:"]),
        ("what about inpatient?", ["It depends on the plan", "inpatient or outpatient basis"], ["Yes:"]),
        ("and in the ER?", ["No:"], ["Yes:"]),
        ("what's the phone number for Anthem Blue Cross", ["1-877-291-0360"], []),
        ("how do I upload supporting documentation", ["document upload feature"], []),
        ("recon deadline", ["within 10 days of the denial"], []),
        ("p2p after denial?", ["peer-to-peer"], []),
        ("what is the ProviderPortal web address", ["providerportal.com"], []),
        ("are you a bot?", ["virtual assistant"], []),
    ],
    "procedure, phone, line of business": [
        ("does a total knee replacement need review", ["Yes:"], []),
        ("what's the number for that?", ["(866) 789-0158", "1-877-291-0360"], []),
        ("for Maine", ["866-714-1107"], ["1-877-291-0360"]),
        ("does a lumbar fusion need prior auth", ["Yes:"], []),
        (
            "for Medicaid members?",
            ["The sources don't say for Medicaid members of Anthem Maine"],
            [],
        ),  # Maine, from before
        ("what about ASO", ["Yes:"], ["Not under AIM review"]),
        ("TKA auth validity", ["60 calendar days"], ["10 business days"]),
        ("how long is a pain management approval good for", ["10 business days"], ["60 calendar days"]),
        ("what is notification only?", ["62322", "notification purposes only"], []),
        ("does 62322 need auth", ["It depends"], []),
        ("it's for G89.18", ["Notification only"], []),
        ("what can you do?", ["pre-service review"], []),
    ],
    "programs, site of care, denial": [
        ("what does AIM review?", ["Musculoskeletal Program"], []),
        ("what's in the pain management program", ["Epidural injections"], []),
        ("how long is that approval good for", ["10 business days"], []),
        ("does a knee arthroscopy need review", ["Yes:"], []),
        ("knee arthroscopy at a hospital outpatient department", ["site-of-care review"], []),
        ("what if we move it to an ASC", ["needs no additional site-of-care review"], []),
        ("our TKA request was denied", ["within 10 days"], []),
        ("can we do a peer to peer instead", ["before or after the determination"], []),
        ("and how do I upload the records", ["document upload"], []),
        ("how do I register for the ProviderPortal", ["Register Now"], []),
        ("when does small joint start", ["November 1, 2020"], []),
        ("how much does it pay", [NOT_KNOWN], []),
    ],
    "rehab, dates, scope": [
        ("tell me about the rehab program", ["speech therapy"], []),
        ("is PT/OT auth required for Medicare members in Florida", ["FL, NJ and NY", "April 2020"], []),
        ("when does the small joint program start", ["October 26, 2020", "November 1, 2020"], []),
        ("surgical site of care effective date", ["December 1, 2020"], []),
        ("does this apply to HMO members", ["HMO: not included"], []),
        ("is Medicaid included", ["Medicaid: not included"], []),
        ("what are the contact center hours", ["Monday"], []),
        ("email for guideline questions", ["aim.guidelines@aimspecialtyhealth.com"], []),
        ("what happens after I submit a request?", ["order number"], []),
        ("the nearest ASC is two hours away, what then?", ["geographic access"], []),
        ("does 99999 need prior auth?", ["not in my knowledge base"], ["Yes:"]),
        ("thanks a lot", [], []),
    ],
    "reach AIM, spine, post-service": [
        ("how do I reach AIM?", ["providerportal.com", "1-877-291-0360"], []),
        ("does a bunionectomy need precert", ["Yes:", "Small joint surgery"], []),
        ("how long is a spine surgery approval valid", ["60 calendar days"], ["10 business days"]),
        ("does an ESI need auth", ["Epidural injections"], []),
        ("does the authorization number expire?", ["expiration date in the approval notification"], []),
        ("my request was denied, what now?", ["within 10 days of the denial"], []),
        ("can I talk to the physician reviewer", ["physician reviewer"], []),
        ("what is site of care review", ["outpatient hospital"], []),
        ("I don't have privileges at an ambulatory surgery center", ["privileges"], []),
        ("does every staff member have to register", ["Each member of your staff"], []),
        ("I got a letter saying the claim was submitted without review", ["post-service clinical review"], []),
        ("is my patient eligible for coverage", [NOT_KNOWN], []),
    ],
}


def check_reply(texts: list[str], must: list[str], must_not: list[str]) -> str | None:
    """None when the reply is right, else what is wrong. An empty reply is always wrong."""
    if not texts:
        return "empty reply (silent bot)"
    reply = "\n".join(texts)
    if "temporarily unavailable" in reply:
        return "service unavailable reply"
    missing = [fact for fact in must if fact.lower() not in reply.lower()]
    wrong = [fact for fact in must_not if fact.lower() in reply.lower()]
    if missing or wrong:
        return f"missing {missing}, wrongly present {wrong}: {reply[:300]!r}"
    return None


def draft_script(member_id: str, dob: str, date_of_service: str) -> list[Turn]:
    """A draft request filled in over several turns, then questions; "{ref}" stands for its reference."""
    year = dob.rsplit("/", 1)[-1]
    return [
        (
            "start a draft for 63030 at the hospital outpatient department",
            ["I've started draft request", "What is the member ID"],
            [],
        ),
        (
            f"member id {member_id}, dob {dob}, ordering NPI 1234567893, tax id 12-3456789",
            ["NPI of the servicing provider or facility"],
            [member_id],
        ),
        ("1245319599", ["name of the servicing provider or facility"], []),
        ("Mercy Hospital", ["Which diagnosis codes"], []),
        ("M17.11", ["planned date of service"], []),
        (f"DOS {date_of_service}", ["medically necessary"], []),
        ("The patient needs overnight monitoring after surgery for severe sleep apnea", ["is complete"], []),
        (
            "what's my draft?",
            ["{ref}", f"Member ID: ****{member_id[-4:]}", f"**/**/{year}", "(ready to export)"],
            [member_id, dob],
        ),
        ("how long is a spine surgery approval valid", ["60 calendar days"], []),
        ("what is notification only?", ["notification purposes only"], []),
        ("show my drafts", ["{ref}"], []),
        ("thanks a lot", [], []),
    ]


REFERENCE = re.compile(r"DR-[0-9A-Z]{6}")


def plan(index: int) -> tuple[str, list[Turn], dict]:
    """Conversation `index`: one of the question scripts, or (every sixth) a draft request."""
    kinds = [*SCRIPTS, "draft request"]
    name = kinds[index % len(kinds)]
    if name != "draft request":
        return name, SCRIPTS[name], {}
    rng = random.Random(index)
    member_id = f"XYZ{rng.randint(10**8, 10**9 - 1)}"
    dob = f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1940, 1995)}"
    dos = (date.today() + timedelta(days=14)).strftime("%m/%d/%Y")
    return name, draft_script(member_id, dob, dos), {"member_id": member_id, "dob": dob}


@dataclass
class Talk:
    """One scripted conversation, played a few turns at a time; `say(base, sender, message)` -> Reply."""

    sender: str
    name: str
    script: list[Turn]
    facts: dict = field(default_factory=dict)
    reference: str | None = None
    turns: list = field(default_factory=list)  # (message, reply or None, problem or None)

    @classmethod
    def planned(cls, index: int, sender: str) -> Talk:
        name, script, facts = plan(index)
        return cls(sender, name, script, facts)

    def play(self, say: Callable, base: str, count: int | None = None) -> Talk:
        start = len(self.turns)
        for message, must, must_not in self.script[start : None if count is None else start + count]:
            try:
                reply = say(base, self.sender, message)
            except Exception as exc:  # noqa: BLE001 - a failed request is a failed turn
                self.turns.append((message, None, f"request failed: {type(exc).__name__}"))
                continue
            if self.reference is None and (found := REFERENCE.search(reply.text)):
                self.reference = found.group(0)
            must = [fact.replace("{ref}", self.reference or "DR-?") for fact in must]
            problem = f"HTTP {reply.status}: {str(reply.body)[:200]}" if reply.status != 200 else None
            self.turns.append((message, reply, problem or check_reply(reply.texts, must, must_not)))
        return self

    @property
    def problems(self) -> list[str]:
        return [f"{self.sender} [{self.name}] {m!r}: {p}" for m, _r, p in self.turns if p]

    @property
    def sent(self) -> list[str]:
        return [m for m, _r, _p in self.turns]

    @property
    def bot_texts(self) -> int:
        return sum(len(r.texts) for _m, r, _p in self.turns if r is not None)


def bot_parts(texts: list[str | None]) -> int:
    """How many REST messages the bot events' texts make: the channel splits a text at each blank line."""
    return sum(len(t.strip().split("\n\n")) for t in texts if t)


def tracker_problems(events: list[tuple], talk: Talk) -> tuple[list[str], int, int]:
    """What is wrong with one stored conversation, and how many events were lost and duplicated.

    `events` are (type_name, text, action_name) in storage order. Expected: one user event per message
    sent, in order, one bot event per text reply received, and each user event answered before the next.
    """
    users = [t for kind, t, _ in events if kind == "user"]
    bots = bot_parts([t for kind, t, _ in events if kind == "bot"])
    sent, bot_texts = talk.sent, talk.bot_texts
    lost = max(0, len(sent) - len(users)) + max(0, bot_texts - bots)
    duplicated = max(0, len(users) - len(sent)) + max(0, bots - bot_texts)
    problems = []
    if users != sent:
        problems.append(f"{len(users)} user events for {len(sent)} messages sent, or out of order")
    if bots != bot_texts:
        problems.append(f"bot events hold {bots} messages, {bot_texts} were received")
    kinds = [kind for kind, _, _ in events if kind in ("user", "bot")]
    if any(k == "user" and (i + 1 == len(kinds) or kinds[i + 1] != "bot") for i, k in enumerate(kinds)):
        problems.append(f"a user event is not followed by its reply: {kinds}")
    return [f"{talk.sender}: {p}" for p in problems], lost, duplicated


def draft_problems(talk: Talk, drafts: list[dict]) -> list[str]:
    """A completed draft conversation leaves exactly its one ready draft, every field saved, audited."""
    if len(drafts) != 1:
        return [f"{talk.sender}: {len(drafts)} drafts stored, expected 1"]
    draft, problems = drafts[0], []
    month, day, year = (int(x) for x in talk.facts["dob"].split("/"))
    if draft["reference"] != talk.reference:
        problems.append(f"reference {draft['reference']} != {talk.reference} in the replies")
    if draft["status"] != "ready":
        problems.append(f"status {draft['status']}")
    if draft["member_id"] != talk.facts["member_id"] or str(draft["member_dob"]) != f"{year}-{month:02}-{day:02}":
        problems.append("member id or date of birth not as given")
    if not draft["date_of_service"] or not draft["site_of_care_reason"]:
        problems.append("date of service or site-of-care reason missing")
    if draft["audit"] < 2:
        problems.append(f"audit trail has {draft['audit']} entries")
    return [f"{talk.sender}: {p}" for p in problems]
