"""Agent identity over the real servers: each agent proves who they are, and no agent reads another's work.

Two agents, alice and bob, with tokens from `python -m priorauth agent-token` (the local run's key in the
servers' run dir). Alice opens a draft with a member id; bob tries every endpoint and every draft verb.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import uuid

import jwt
import pytest
import requests

from priorauth.agent_auth import AgentAuth
from tests.servers import ROOT

pytestmark = pytest.mark.e2e

MEMBER_ID = "QZX987654321"  # made up; appears nowhere else in the tests
DOB = "7/9/1958"


def mint(assistant, agent_id: str) -> str:
    """The README's sign-in command, run against the servers' run dir."""
    out = subprocess.run(
        [sys.executable, "-m", "priorauth", "agent-token", agent_id, "--minutes", "30"],
        cwd=ROOT,
        env=assistant.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


class Agent:
    def __init__(self, assistant, agent_id: str) -> None:
        self.assistant, self.agent_id = assistant, agent_id
        self.token = mint(assistant, agent_id)
        self.session = uuid.uuid4().hex[:12]

    def post(self, body: dict, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return requests.post(f"{self.assistant.url}/webhooks/agent/webhook", json=body, headers=headers, timeout=60)

    def history(self, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.assistant.url}/webhooks/agent/history"
        return requests.get(url, params={"session": self.session, **params}, headers=headers, timeout=30)

    def say(self, message: str, **extra: str) -> str:
        response = self.post({"session": self.session, "message": message, **extra})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["agent_id"] == self.agent_id and body["sender"] == f"agent:{self.agent_id}:{self.session}"
        return "\n".join(turn["text"] for turn in body["turns"] if turn.get("text")) + json.dumps(body["turns"])


@pytest.fixture(scope="module")
def agents(assistant):
    suffix = uuid.uuid4().hex[:6]
    return Agent(assistant, f"alice-{suffix}"), Agent(assistant, f"bob-{suffix}")


@pytest.fixture(scope="module")
def alices_draft(agents):
    alice, _ = agents
    started = alice.say("open a new review request")
    reference = re.search(r"DR-[0-9A-Z]{6}", started).group(0)
    reply = alice.say(f"member id {MEMBER_ID}, dob {DOB}, facility Mercy Surgery Center")
    assert "What is the ordering provider's NPI" in reply, reply
    return reference


def assert_nothing_of_alices(text: str, reference: str | None = None) -> None:
    for secret in (MEMBER_ID, MEMBER_ID[-4:], DOB, "1958", "Mercy Surgery Center"):
        assert secret not in text, secret
    if reference:
        assert reference not in text


@pytest.mark.parametrize(
    "verb",
    [
        "show draft {ref}",
        "export {ref}",
        "change the date of service of {ref} to 3/4",
        "change the facility on {ref} to Lakeside Clinic",
        "cancel {ref}",
    ],
)
def test_bob_cannot_read_change_export_or_cancel_alices_draft(agents, alices_draft, verb):
    _, bob = agents
    reply = bob.say(verb.format(ref=alices_draft))
    assert f"Draft request {alices_draft} belongs to another conversation" in reply
    assert_nothing_of_alices(reply)


def test_bobs_drafts_list_holds_nothing_of_alices(agents, alices_draft):
    _, bob = agents
    reply = bob.say("show my drafts")
    assert "You have no draft requests yet" in reply
    assert_nothing_of_alices(reply, alices_draft)


def test_bob_naming_alice_is_forbidden_on_every_endpoint(agents, alices_draft):
    alice, bob = agents
    message = {"agent_id": alice.agent_id, "session": alice.session, "message": f"show draft {alices_draft}"}
    for response in (bob.post(message), bob.history(agent_id=alice.agent_id, session=alice.session)):
        assert response.status_code == 403
        assert response.json() == {
            "error": "forbidden",
            "message": f"this token is for agent {bob.agent_id!r}: 'agent_id' must be that or left out",
        }
    # Alice's session id under bob's token is bob's own (empty) conversation.
    own = bob.history(session=alice.session)
    assert own.status_code == 200 and own.json()["sender"] == f"agent:{bob.agent_id}:{alice.session}"
    assert own.json()["turns"] == []
    # Alice's own view: her history and her draft, intact.
    history = alice.history().json()
    assert history["sender"] == f"agent:{alice.agent_id}:{alice.session}"
    assert any(alices_draft in (turn["text"] or "") for turn in history["turns"])
    summary = Agent(alice.assistant, alice.agent_id).say(f"show draft {alices_draft}")  # a new panel session
    assert f"Draft request {alices_draft} (in progress)" in summary and "Member ID: ****4321" in summary
    assert "Facility name: Mercy Surgery Center" in summary


def test_a_provider_forging_alices_metadata_gets_nothing(assistant, agents, alices_draft):
    alice, _ = agents
    forged = requests.post(
        f"{assistant.url}/webhooks/rest/webhook",
        json={
            "sender": f"provider-{uuid.uuid4().hex[:8]}",
            "message": f"show draft {alices_draft}",
            "metadata": {"agent_id": alice.agent_id, "agent_session": alice.session, "agent_proof": "0" * 64},
        },
        timeout=60,
    ).json()
    reply = "\n".join(m.get("text") or "" for m in forged)
    assert f"Draft request {alices_draft} belongs to another conversation" in reply
    assert_nothing_of_alices(reply)


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_bad_tokens_are_refused_with_the_reason(assistant, agents):
    alice, _ = agents
    keys = AgentAuth.from_env({"PRIORAUTH_RUN_DIR": str(assistant.workdir)})
    now = int(time.time())
    claims = {"sub": alice.agent_id, "aud": "priorauth-agent", "iat": now, "exp": now + 600}
    header, _, signature = alice.token.split(".")
    cases = {
        "expired": (keys.mint(alice.agent_id, minutes=5, now=now - 3600), "token_expired", "token expired"),
        "another key": (jwt.encode(claims, "z" * 64, "HS256"), "invalid_token", "signature matches no key"),
        "another audience": (
            jwt.encode({**claims, "aud": "another-service"}, keys.signing_secret, "HS256"),
            "invalid_token",
            "it is not for this service",
        ),
        "alg none": (jwt.encode(claims, None, "none"), "invalid_token", "algorithm 'none' is not accepted"),
        "tampered payload": (
            f"{header}.{b64({**claims, 'sub': 'bob-someone'})}.{signature}",
            "invalid_token",
            "signature matches no key",
        ),
    }
    for name, (token, code, reason) in cases.items():
        response = alice.post({"session": alice.session, "message": "show my drafts"}, token=token)
        assert response.status_code == 401, name
        assert response.json()["error"] == code and reason in response.json()["message"], (name, response.json())


def test_no_member_id_reaches_the_logs(assistant, agents, alices_draft):
    for log in ("rasa.log", "actions.log"):
        text = (assistant.workdir / log).read_text(errors="replace")
        assert MEMBER_ID not in text and MEMBER_ID[3:] not in text and DOB not in text, log
        assert "a message claimed an agent id without the agent channel's proof" in text or log == "rasa.log"
