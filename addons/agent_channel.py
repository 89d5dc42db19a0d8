"""Rasa input channel for the contact-center agent side panel: a JSON API for agents who prove who they are.

POST /webhooks/agent/webhook  {"session", "message", ["agent_id"]} -> {"agent_id", "sender", "turns": [...]}
GET  /webhooks/agent/history?session=...[&agent_id=...]          -> {"agent_id", "sender", "turns": [...]}
Both need `Authorization: Bearer <agent token>`: a JWT whose subject is the agent id (priorauth/agent_auth.py).
The agent is the token's subject, never a field of the request: an `agent_id` given must equal it (else 403).
A turn is {"role", "text", "buttons", "custom", "timestamp"}; a bot turn's `custom` is the structured answer
(facts, scope, citations) of priorauth.render.payload. Messages reach Rasa on input channel "agent", sender
`agent:<subject>:<session>`, with metadata `agent_id`, `agent_session` and `agent_proof`, the channel's
signature of (sender, agent id, message id) that the action server checks (priorauth/agent_proof.py).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from addons.json_errors import json_error
from priorauth.agent_auth import AGENT_ID, AgentAuth, AgentAuthError, AgentIdentity
from priorauth.agent_proof import AgentAuthConfigError, channel_secrets, sign_proof

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_MESSAGE_CHARS = 2000


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
    """A JSON error; a 401 also names the reason in its Bearer challenge (RFC 6750)."""
    headers = None
    if status == 401:
        detail = "" if error == "missing_token" else ', error="invalid_token"'
        headers = {"WWW-Authenticate": f'Bearer realm="priorauth-agent"{detail}'}
    return json_error(status, error, message, headers)


class AgentInput(InputChannel):
    """credentials.yml: `addons.agent_channel.AgentInput:`. Keys and rules come from the environment only."""

    @classmethod
    def name(cls) -> str:
        return "agent"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> AgentInput:
        if credentials:
            raise AgentAuthConfigError(
                f"addons.agent_channel.AgentInput takes no settings in the credentials file (got "
                f"{sorted(credentials)}): agent keys come from the environment (PRIORAUTH_AGENT_JWT_*; SECURITY.md)"
            )
        try:
            return cls(AgentAuth.from_env(), channel_secrets())
        except AgentAuthConfigError as exc:
            logger.error("the agent channel cannot start: %s", exc)
            raise

    def __init__(self, auth: AgentAuth, proof_secrets: list[str]) -> None:
        if not proof_secrets:
            raise AgentAuthConfigError(
                "the agent channel needs PRIORAUTH_AGENT_CHANNEL_SECRET in production (the same on the action server)"
            )
        self.auth = auth
        self.proof_secret = proof_secrets[0]

    def identify(self, request: Request, claimed: Any) -> AgentIdentity | HTTPResponse:
        """The verified agent of a request, or the error response: 401 for the token, 403 for another agent id."""
        try:
            identity = self.auth.identify(_authorization(request))
        except AgentAuthError as exc:
            logger.info("agent channel: a request was refused: %s", exc.code)
            return _error(exc.status, exc.code, exc.message)
        except jwt.InvalidTokenError:  # PyJWT's header checks (a `kid` that is not a string) raise more than
            # DecodeError, which priorauth.agent_auth expects: an HTTP 500 before this (found by test_fuzz.py)
            logger.info("agent channel: a request was refused: invalid_token (unreadable header)")
            return _error(
                401, "invalid_token", "invalid token: its header cannot be read; sign in again with a new token"
            )
        if claimed is not None and claimed != identity.agent_id:
            shown = claimed if isinstance(claimed, str) and AGENT_ID.fullmatch(claimed) else "(malformed)"
            logger.warning("agent channel: agent %s asked for agent_id %s: refused", identity.agent_id, shown)
            return _error(
                403,
                "forbidden",
                f"this token is for agent {identity.agent_id!r}: 'agent_id' must be that or left out",
            )
        return identity

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        agent_webhook = Blueprint("agent_webhook", __name__)

        @agent_webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @agent_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = _json_object(request)
            identity = self.identify(request, body.get("agent_id") if isinstance(body, dict) else None)
            if isinstance(identity, HTTPResponse):
                return identity
            if isinstance(body, HTTPResponse):
                return body
            session = _session(body.get("session"))
            if isinstance(session, HTTPResponse):
                return session
            text = body.get("message")
            if not isinstance(text, str) or not text.strip():
                return _error(400, "bad_request", "'message' must be a non-empty string")
            if "\x00" in text or not _encodable(text):
                return _error(400, "bad_request", "'message' must be text (no NUL characters or lone surrogates)")
            if len(text) > MAX_MESSAGE_CHARS:
                return _error(400, "bad_request", f"'message' must be at most {MAX_MESSAGE_CHARS} characters")
            agent_id = identity.agent_id
            sender = sender_for(agent_id, session)
            message_id = uuid.uuid4().hex  # the proof names this message: a copied proof fits no other
            metadata = {
                "agent_id": agent_id,
                "agent_session": session,
                "agent_proof": sign_proof(self.proof_secret, sender, agent_id, message_id),
            }
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        text.strip(),
                        collector,
                        sender,
                        input_channel=self.name(),
                        message_id=message_id,
                        metadata=metadata,
                    )
                )
            except Exception as exc:  # the message and the error may hold PHI: log the failure's type only
                logger.error("agent channel: handling a message failed: %s (sender %s)", type(exc).__name__, sender)
                return _error(500, "internal_error", "the assistant could not handle this message; try again")
            turns = turns_from_collected(collector.messages)
            return response.json({"agent_id": agent_id, "sender": sender, "turns": turns})

        @agent_webhook.route("/history", methods=["GET"])
        async def history(request: Request) -> HTTPResponse:
            identity = self.identify(request, request.args.get("agent_id"))
            if isinstance(identity, HTTPResponse):
                return identity
            session = _session(request.args.get("session"))
            if isinstance(session, HTTPResponse):
                return session
            sender = sender_for(identity.agent_id, session)
            tracker = await request.app.ctx.agent.tracker_store.retrieve(sender)
            turns = turns_from_events(list(tracker.events)) if tracker else []
            return response.json({"agent_id": identity.agent_id, "sender": sender, "turns": turns})

        return agent_webhook


EXPECTED_BODY = 'the body must be a JSON object {"session": ..., "message": ...}'


def _json_object(request: Request) -> dict | HTTPResponse:
    """The request's JSON object, or the 400 that says what the body is instead."""
    raw = request.body or b""
    if not raw.strip():
        return _error(400, "bad_request", f"empty body: {EXPECTED_BODY}")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _error(400, "bad_request", f"the body is not valid UTF-8 JSON: {EXPECTED_BODY}")
    if not isinstance(body, dict):
        return _error(400, "bad_request", f"got a JSON {type(body).__name__}: {EXPECTED_BODY}")
    return body


def _authorization(request: Request) -> str | None:
    """The Authorization header, refused unless ASCII: Sanic decodes other bytes to lone surrogates, which the
    JWT library cannot encode (an HTTP 500 before this check; found by tests/production/test_fuzz.py)."""
    value = request.headers.get("authorization")
    if value is not None and not value.isascii():
        raise AgentAuthError(
            401, "invalid_token", "invalid token: not a JWT (a token is ASCII); sign in again with a new token"
        )
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, escaped in the JSON body
        return False
    return True


def _session(session: Any) -> str | HTTPResponse:
    if not isinstance(session, str) or not SESSION_ID.fullmatch(session):
        return _error(400, "bad_request", "'session' must be 1-64 characters: letters, digits, '_' or '-'")
    return session
