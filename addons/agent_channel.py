"""Rasa input channel for the contact-center agent side panel: a token-protected JSON API.

POST /webhooks/agent/webhook  {"agent_id", "session", "message"} -> {"sender", "turns": [...]}
GET  /webhooks/agent/history?agent_id=...&session=...           -> {"sender", "turns": [...]}
Both need `Authorization: Bearer <token>`. A turn is {"role", "text", "buttons", "custom", "timestamp"}; a bot
turn's `custom` is the structured answer (facts, scope, citations) of priorauth.render.payload. Messages reach
Rasa on input channel "agent", sender `agent:<agent_id>:<session>`, with metadata `agent_id`, `agent_session`
and `agent_signature` (see `agent_signature`).
The token comes from PRIORAUTH_AGENT_TOKEN; a local run without it (PRIORAUTH_RUN_DIR set, as scripts/run.sh
and the tests do) gets a random one kept in $PRIORAUTH_RUN_DIR/agent-token; otherwise the API is disabled.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from priorauth.agent_auth import TOKEN_ENV, agent_signature, agent_token

logger = logging.getLogger(__name__)

AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_MESSAGE_CHARS = 2000


def token_matches(expected: str | None, authorization: str | None) -> bool:
    scheme, _, given = (authorization or "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def sender_for(agent_id: str, session: str) -> str:
    """The conversation id of one panel session: apart from every provider conversation."""
    return f"agent:{agent_id}:{session}"


def turns_from_collected(messages: list[dict]) -> list[dict]:
    """Bot turns as the tracker keeps them: Rasa's collector splits a custom payload from its text."""
    turns: list[dict] = []
    for message in messages:
        if "custom" in message and set(message) <= {"recipient_id", "custom"} and turns and not turns[-1]["custom"]:
            turns[-1]["custom"] = message["custom"]
            continue
        turns.append(_turn("bot", message.get("text"), message.get("buttons"), message.get("custom")))
    return turns


def turns_from_events(events: list) -> list[dict]:
    turns = []
    for event in events:
        if isinstance(event, UserUttered) and event.text:
            turns.append(_turn("user", event.text, timestamp=event.timestamp))
        elif isinstance(event, BotUttered):
            data = event.data or {}
            turns.append(_turn("bot", event.text, data.get("buttons"), data.get("custom"), event.timestamp))
    return turns


def _turn(role: str, text=None, buttons=None, custom=None, timestamp=None) -> dict:
    return {"role": role, "text": text, "buttons": buttons or [], "custom": custom, "timestamp": timestamp}


def _error(status: int, error: str, message: str) -> HTTPResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="priorauth-agent"'} if status == 401 else None
    return response.json({"error": error, "message": message}, status=status, headers=headers)


class AgentInput(InputChannel):
    """credentials.yml: `addons.agent_channel.AgentInput:` (a `token:` there overrides the environment)."""

    @classmethod
    def name(cls) -> str:
        return "agent"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> AgentInput:
        return cls(token=(credentials or {}).get("token"))

    def __init__(self, token: str | None = None) -> None:
        self._token = token

    def token(self) -> str | None:
        if self._token is None:
            self._token = agent_token()
        return self._token

    def refusal(self, request: Request) -> HTTPResponse | None:
        """The error response for a request without the right token, or None."""
        if not self.token():
            return _error(503, "agent_api_disabled", f"the agent API is off: the server has no {TOKEN_ENV}")
        authorization = request.headers.get("authorization")
        if not authorization:
            return _error(401, "unauthorized", "missing token: send the header 'Authorization: Bearer <token>'")
        if not token_matches(self.token(), authorization):
            return _error(401, "unauthorized", "invalid token")
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        agent_webhook = Blueprint("agent_webhook", __name__)

        @agent_webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @agent_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            refused = self.refusal(request)
            if refused:
                return refused
            body = _json_object(request)
            ids = _ids(body)
            if isinstance(ids, HTTPResponse):
                return ids
            text = body.get("message")
            if not isinstance(text, str) or not text.strip():
                return _error(400, "bad_request", "'message' must be a non-empty string")
            if len(text) > MAX_MESSAGE_CHARS:
                return _error(400, "bad_request", f"'message' must be at most {MAX_MESSAGE_CHARS} characters")
            agent_id, session = ids
            sender = sender_for(agent_id, session)
            collector = CollectingOutputChannel()
            metadata = {
                "agent_id": agent_id,
                "agent_session": session,
                "agent_signature": agent_signature(self.token(), sender, agent_id),
            }
            try:
                await on_new_message(
                    UserMessage(text.strip(), collector, sender, input_channel=self.name(), metadata=metadata)
                )
            except Exception as exc:  # the message and the error may hold PHI: log the failure's type only
                logger.error("agent channel: handling a message failed: %s (sender %s)", type(exc).__name__, sender)
                return _error(500, "internal_error", "the assistant could not handle this message; try again")
            return response.json({"sender": sender, "turns": turns_from_collected(collector.messages)})

        @agent_webhook.route("/history", methods=["GET"])
        async def history(request: Request) -> HTTPResponse:
            refused = self.refusal(request)
            if refused:
                return refused
            ids = _ids({k: request.args.get(k) for k in ("agent_id", "session")})
            if isinstance(ids, HTTPResponse):
                return ids
            sender = sender_for(*ids)
            tracker = await request.app.ctx.agent.tracker_store.retrieve(sender)
            turns = turns_from_events(list(tracker.events)) if tracker else []
            return response.json({"sender": sender, "turns": turns})

        return agent_webhook


def _json_object(request: Request) -> dict:
    try:
        body = request.json
    except Exception:  # Sanic raises on malformed JSON
        return {}
    return body if isinstance(body, dict) else {}


def _ids(values: dict) -> tuple[str, str] | HTTPResponse:
    agent_id, session = values.get("agent_id"), values.get("session")
    if not isinstance(agent_id, str) or not AGENT_ID.fullmatch(agent_id):
        return _error(400, "bad_request", "'agent_id' must be 1-64 characters: letters, digits, '.', '_', '@' or '-'")
    if not isinstance(session, str) or not SESSION_ID.fullmatch(session):
        return _error(400, "bad_request", "'session' must be 1-64 characters: letters, digits, '_' or '-'")
    return agent_id, session
