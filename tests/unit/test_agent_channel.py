"""The agent side panel's input channel and the web pages' channel, on a Sanic app driven through ASGI."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from addons.agent_channel import AgentInput, sender_for, turns_from_collected, turns_from_events
from addons.web_pages import WebPages, resolve
from priorauth.agent_auth import AgentAuth
from priorauth.agent_proof import AgentAuthConfigError, agent_vouched

SECRET = "k" * 64
CHANNEL_SECRET = "c" * 40
KEYS = AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_SECRET": SECRET})
TOKEN = KEYS.mint("agent-7")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ANSWER = {"type": "priorauth.answer", "topic": "validity", "facts": [{"text": "10 business days"}]}


def channel(**environ: str) -> AgentInput:
    return AgentInput(AgentAuth.from_env({"PRIORAUTH_AGENT_JWT_SECRET": SECRET, **environ}), [CHANNEL_SECRET])


# ---- pure parts ----------------------------------------------------------------------------------------------
def test_panel_sessions_have_their_own_conversation_ids():
    assert sender_for("agent-7", "abc123") == "agent:agent-7:abc123"


def test_collected_messages_become_turns_with_the_payload_beside_its_text():
    collected = [
        {"recipient_id": "s", "text": "Hello", "buttons": [{"title": "Contact AIM", "payload": "/ask_contact"}]},
        {"recipient_id": "s", "text": "How long an approval lasts: 10 business days"},
        {"recipient_id": "s", "custom": ANSWER},
        {"recipient_id": "s", "custom": {"type": "other"}},
    ]
    turns = turns_from_collected(collected)
    assert [(t["text"], t["custom"]) for t in turns] == [
        ("Hello", None),
        ("How long an approval lasts: 10 business days", ANSWER),
        (None, {"type": "other"}),
    ]
    assert turns[0]["buttons"] == [{"title": "Contact AIM", "payload": "/ask_contact"}]
    assert {t["role"] for t in turns} == {"bot"}


def test_the_history_holds_the_user_and_bot_messages_only():
    events = [
        ActionExecuted("action_listen"),
        UserUttered("p2p window", timestamp=1.0),
        SlotSet("last_topic", "peer_to_peer"),
        BotUttered("Peer-to-peer discussion:", data={"custom": ANSWER}, timestamp=2.0),
    ]
    assert turns_from_events(events) == [
        {"role": "user", "text": "p2p window", "buttons": [], "custom": None, "timestamp": 1.0},
        {"role": "bot", "text": "Peer-to-peer discussion:", "buttons": [], "custom": ANSWER, "timestamp": 2.0},
    ]


# ---- the channel on a Sanic app ------------------------------------------------------------------------------
async def _request(app, method: str, path: str, body=None, headers: dict | None = None):
    """One request through the app's ASGI interface: (status, headers, JSON or text)."""
    path, _, query = path.partition("?")
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "test", **(headers or {})}.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("test", 80),
    }
    received = []

    async def receive():
        if not received:
            received.append(True)
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)

    out = {"headers": {}, "body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    is_json = out["headers"].get("content-type", "").startswith("application/json")
    return out["status"], out["headers"], json.loads(out["body"]) if is_json else out["body"]


async def _started(app: Sanic) -> Sanic:
    """Runs Sanic's ASGI startup (routing, signals), as a server would before its first request."""
    events: asyncio.Queue = asyncio.Queue()
    await events.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def send(message):
        started.set()

    app.ctx.lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, events.get, send))
    await asyncio.wait_for(started.wait(), 10)
    return app


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch):
    # Sanic patches its request handler once per process at startup; test mode lets every test's app start.
    monkeypatch.setattr(Sanic, "test_mode", True)


class FakeAssistant:
    """Stands in for Rasa's message handler: answers with a text and a payload, and keeps the tracker."""

    def __init__(self, fail: bool = False) -> None:
        self.received: list[UserMessage] = []
        self.fail = fail
        self.tracker_store = self

    async def handle(self, message: UserMessage) -> None:
        if self.fail:
            raise RuntimeError("boom with member 123456789")
        self.received.append(message)
        await message.output_channel.send_response(message.sender_id, {"text": "10 business days", "custom": ANSWER})

    async def retrieve(self, sender_id: str):
        events = []
        for m in self.received:
            if m.sender_id == sender_id:
                events += [UserUttered(m.text), BotUttered("10 business days", data={"custom": ANSWER})]
        return DialogueStateTracker.from_events(sender_id, events) if events else None


def _run(coro):
    # In a thread of its own: a session that also drives Playwright's sync API has a loop running here.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _app(channel, assistant: FakeAssistant) -> Sanic:
    app = Sanic(f"test_{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(assistant.handle), url_prefix="/webhooks/agent")
    app.ctx.agent = SimpleNamespace(tracker_store=assistant.tracker_store)
    return app


def _call(channel, requests: list[tuple], assistant: FakeAssistant | None = None):
    assistant = assistant or FakeAssistant()

    async def go():
        app = await _started(_app(channel, assistant))
        return [await _request(app, *request) for request in requests]

    return _run(go()), assistant


QUERY = {"agent_id": "agent-7", "session": "abc123", "message": "27447 ASO"}
HISTORY = "/webhooks/agent/history?session=abc123"


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        ({}, "missing_token", "missing token: sign in (send the header 'Authorization: Bearer <agent token>')"),
        ({"Authorization": "Bearer nope"}, "invalid_token", "invalid token: not a JWT; sign in again with a new token"),
        ({"Authorization": TOKEN}, "invalid_token", "invalid token: send it as 'Authorization: Bearer <agent token>'"),
        (
            {"Authorization": f"Bearer {KEYS.mint('agent-7', now=0)}"},
            "token_expired",
            "token expired: sign in again with a new token",
        ),
    ],
)
def test_a_request_without_a_valid_token_gets_a_401_json_error(headers, code, message):
    responses, assistant = _call(
        channel(), [("POST", "/webhooks/agent/webhook", QUERY, headers), ("GET", HISTORY, None, headers)]
    )
    for status, response_headers, body in responses:
        assert status == 401
        assert body["error"] == code and body["message"].startswith(message)
        assert response_headers["www-authenticate"].startswith('Bearer realm="priorauth-agent"')
    assert assistant.received == []


def test_a_revoked_token_gets_a_401_saying_so():
    [(status, _, body)], _ = _call(
        channel(PRIORAUTH_AGENT_REVOKED="agent:agent-7"), [("POST", "/webhooks/agent/webhook", QUERY, AUTH)]
    )
    assert status == 401 and body["error"] == "token_revoked"


def test_production_refuses_to_start_the_channel_without_keys(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("PRIORAUTH_AGENT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PRIORAUTH_ENV", "production")
    monkeypatch.setenv("PRIORAUTH_RUN_DIR", str(tmp_path))
    with pytest.raises(AgentAuthConfigError, match="needs a key in production"):
        AgentInput.from_credentials(None)
    monkeypatch.setenv("PRIORAUTH_AGENT_JWT_SECRET", SECRET)
    with pytest.raises(AgentAuthConfigError, match="PRIORAUTH_AGENT_CHANNEL_SECRET"):
        AgentInput.from_credentials(None)
    monkeypatch.setenv("PRIORAUTH_AGENT_CHANNEL_SECRET", CHANNEL_SECRET)
    assert AgentInput.from_credentials(None).auth.keys[0].algorithm == "HS256"
    with pytest.raises(AgentAuthConfigError, match="no settings in the credentials file"):
        AgentInput.from_credentials({"token": "shared"})
    assert list(tmp_path.iterdir()) == []  # no local key made in production


def test_a_query_reaches_rasa_as_the_tokens_agent_with_the_channels_proof():
    [(status, _, body)], assistant = _call(channel(), [("POST", "/webhooks/agent/webhook", QUERY, AUTH)])
    assert status == 200
    assert body["sender"] == "agent:agent-7:abc123" and body["agent_id"] == "agent-7"
    assert [(t["role"], t["text"], t["custom"]) for t in body["turns"]] == [("bot", "10 business days", ANSWER)]
    [message] = assistant.received
    assert message.text == "27447 ASO" and message.sender_id == "agent:agent-7:abc123"
    assert message.input_channel == "agent"
    assert message.metadata["agent_id"] == "agent-7" and message.metadata["agent_session"] == "abc123"
    environ = {"PRIORAUTH_AGENT_CHANNEL_SECRET": CHANNEL_SECRET}
    proof = message.metadata["agent_proof"]
    assert agent_vouched(message.sender_id, "agent-7", message.message_id, proof, environ)
    assert not agent_vouched(message.sender_id, "agent-7", "another-message", proof, environ)


def test_the_agent_id_comes_from_the_token_and_another_agents_id_is_forbidden(caplog):
    bob = {"Authorization": f"Bearer {KEYS.mint('bob')}"}
    responses, assistant = _call(
        channel(),
        [
            ("POST", "/webhooks/agent/webhook", QUERY, AUTH),
            ("POST", "/webhooks/agent/webhook", {**QUERY, "agent_id": "agent-7"}, bob),
            ("GET", f"{HISTORY}&agent_id=agent-7", None, bob),
            ("POST", "/webhooks/agent/webhook", {"session": "abc123", "message": "hi"}, bob),
            ("GET", HISTORY, None, bob),
        ],
    )
    (_, _, own), (post_status, _, refused), (get_status, _, refused_history), (_, _, bobs), (_, _, bobs_history) = (
        responses
    )
    assert post_status == get_status == 403
    assert (
        refused
        == refused_history
        == {
            "error": "forbidden",
            "message": "this token is for agent 'bob': 'agent_id' must be that or left out",
        }
    )
    assert "27447" not in json.dumps(refused_history)
    assert bobs["sender"] == "agent:bob:abc123"  # the same session name is another conversation
    assert [t["text"] for t in bobs_history["turns"]] == ["hi", "10 business days"]
    assert [m.sender_id for m in assistant.received] == ["agent:agent-7:abc123", "agent:bob:abc123"]
    assert "agent bob asked for agent_id agent-7: refused" in caplog.text


def test_the_history_of_a_panel_session_comes_from_the_tracker():
    (_, (status, _, body), (_, _, empty)), _ = _call(
        channel(),
        [
            ("POST", "/webhooks/agent/webhook", QUERY, AUTH),
            ("GET", f"{HISTORY}&agent_id=agent-7", None, AUTH),
            ("GET", "/webhooks/agent/history?session=other", None, AUTH),
        ],
    )
    assert status == 200
    assert [(t["role"], t["text"]) for t in body["turns"]] == [("user", "27447 ASO"), ("bot", "10 business days")]
    assert body["turns"][1]["custom"] == ANSWER
    assert empty["turns"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**QUERY, "session": None}, "'session' must be 1-64 characters"),
        ({**QUERY, "session": "a" * 65}, "'session' must be 1-64 characters"),
        ({**QUERY, "message": "   "}, "'message' must be a non-empty string"),
        ({**QUERY, "message": 42}, "'message' must be a non-empty string"),
        ({**QUERY, "message": "x" * 2001}, "'message' must be at most 2000 characters"),
        ({**QUERY, "message": "27447\x00"}, "'message' must be text (no NUL characters or lone surrogates)"),
        (b'{"session": "s1", "message": "\\ud800"}', "'message' must be text (no NUL characters or lone surrogates)"),
        ([QUERY], "got a JSON list: the body must be a JSON object"),
        (b"{not json", "the body is not valid UTF-8 JSON: the body must be a JSON object"),
        (b"", "empty body: the body must be a JSON object"),
    ],
)
def test_a_malformed_request_gets_a_400_naming_the_field(body, message):
    [(status, _, response)], assistant = _call(channel(), [("POST", "/webhooks/agent/webhook", body, AUTH)])
    assert status == 400 and response["error"] == "bad_request"
    assert response["message"].startswith(message)
    assert assistant.received == []


def test_a_failure_in_rasa_gives_a_500_without_the_message(caplog):
    [(status, _, body)], _ = _call(
        channel(), [("POST", "/webhooks/agent/webhook", QUERY, AUTH)], FakeAssistant(fail=True)
    )
    assert status == 500 and body["error"] == "internal_error"
    assert "27447" not in json.dumps(body)
    assert "RuntimeError" in caplog.text and "27447" not in caplog.text and "123456789" not in caplog.text


def test_the_channel_is_named_agent():
    assert AgentInput.name() == "agent"


# ---- the web pages -------------------------------------------------------------------------------------------
@pytest.fixture
def site(tmp_path):
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "agent.js").write_text("1;")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / ".lock-sha256").write_text("x")
    (tmp_path.parent / "secret.txt").write_text("no")
    return tmp_path


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("", "index.html"),
        ("index.html", "index.html"),
        ("js/agent.js", "js/agent.js"),
        ("js", None),
        ("../secret.txt", None),
        ("js/../../secret.txt", None),
        ("/etc/passwd", None),
        ("vendor/.lock-sha256", None),
        ("missing.html", None),
    ],
)
def test_only_visible_files_under_the_root_are_served(site, path, found):
    target = resolve(site, path)
    assert (target.relative_to(site.resolve()).as_posix() if target else None) == found


def test_pages_are_served_with_their_type_and_a_strict_policy(site):
    async def go():
        app = Sanic(f"test_{uuid.uuid4().hex[:8]}")
        app.blueprint(WebPages(site).blueprint(FakeAssistant().handle), url_prefix="/web")
        await _started(app)
        return [await _request(app, "GET", path) for path in ("/web/", "/web/js/agent.js", "/web/../secret")]

    (status, headers, body), (js_status, js_headers, _), (missing, _, error) = _run(go())
    assert status == 200 and body == b"<h1>home</h1>"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert js_status == 200 and js_headers["content-type"].startswith(("application/javascript", "text/javascript"))
    assert missing == 404 and error["error"] == "not_found"


def test_the_pages_channel_mounts_under_web():
    assert WebPages().url_prefix() == "/web"
    assert (WebPages.from_credentials(None).root / "index.html").exists()
