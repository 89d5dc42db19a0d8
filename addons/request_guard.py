"""Checks in front of the Rasa server's webhooks, loaded from credentials.yml as `addons.request_guard.RequestGuard:`.

A Sanic request middleware, registered on the app before it serves:
- every POST under /webhooks/: 413 above `PRIORAUTH_MAX_BODY_BYTES` (16 KiB);
- POST /webhooks/rest/webhook: 400 unless the body is a UTF-8 JSON object with a string `sender`
  (1-128 of ``A-Z a-z 0-9 . _ : @ -``, not the agent channel's ``agent:`` namespace) and a non-empty
  string `message` (no NUL, valid Unicode, at most `PRIORAUTH_MAX_MESSAGE_CHARS` = 4000, else 413);
  `metadata` an object and `input_channel` a short name if given. Rasa itself answers 500 to an empty
  body or a JSON array. What Rasa then reads is exactly the object that was checked.
- the per-sender rate limit on that webhook (`addons/rate_limit.py`): `PRIORAUTH_RATE_PER_SENDER` messages a
  second (3), bursts of `PRIORAUTH_RATE_BURST` (30); above it 429 `rate_limited` with `Retry-After` (whole
  seconds). With a Redis configured (the lock store's: PRIORAUTH_REDIS_URL, or REDIS_HOST/REDIS_PORT/
  REDIS_PASSWORD/REDIS_DB) one count shared by every replica; without, in process. Redis down: fails open to
  the in-process count, with a warning.
Errors are JSON {"error": code, "message": text}; the app's own errors (404, 405, 413 from Sanic) are JSON
too, without tracebacks. `SANIC_REQUEST_MAX_SIZE` (else 1 MiB here) caps every body.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from addons.json_errors import json_error
from addons.rate_limit import LocalRateLimiter, RedisRateLimiter, make_limiter
from priorauth.config import env_number

logger = logging.getLogger(__name__)

REST_WEBHOOK = "/webhooks/rest/webhook"
SENDER = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
RESERVED_SENDER_PREFIXES = ("agent:",)  # the agent side panel's conversations (addons/agent_channel.py)
INPUT_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
DEFAULT_REQUEST_MAX_SIZE = 1024 * 1024
DEFAULT_RATE_PER_SENDER = 3.0  # messages a second, sustained, per sender, for the whole deployment
DEFAULT_RATE_BURST = 30.0  # messages at once
RateLimiter = LocalRateLimiter  # the in-process bucket, under its former name


class Rejection(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def check_message(message, max_message_chars: int) -> None:
    """A user's message as every channel takes it: non-empty text without NUL or lone surrogates, not too long."""
    if not isinstance(message, str):
        raise Rejection(400, "invalid_message", '"message" must be a string')
    if not message.strip():
        raise Rejection(400, "invalid_message", '"message" must not be empty')
    if "\x00" in message or _has_lone_surrogate(message):
        raise Rejection(400, "invalid_message", '"message" must be text (no NUL characters or lone surrogates)')
    if len(message) > max_message_chars:
        raise Rejection(413, "message_too_long", f'"message" is longer than {max_message_chars} characters')


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def validate_rest_body(body: bytes, max_message_chars: int = 4000) -> dict:
    """The REST webhook's JSON object if it is well formed, else raises `Rejection` (400 or 413)."""
    expected = 'the body must be a JSON object with string fields "sender" and "message"'
    if not body or not body.strip():
        raise Rejection(400, "invalid_request", f"empty body: {expected}")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Rejection(400, "invalid_json", f"the body is not valid UTF-8 JSON: {expected}") from None
    if not isinstance(data, dict):
        raise Rejection(400, "invalid_request", f"got a JSON {type(data).__name__}: {expected}")
    sender, message = data.get("sender"), data.get("message")
    if not isinstance(sender, str):
        raise Rejection(400, "invalid_sender", '"sender" must be a string (the conversation id)')
    if not SENDER.fullmatch(sender):
        raise Rejection(400, "invalid_sender", '"sender" must be 1-128 characters of letters, digits and . _ : @ -')
    if sender.startswith(RESERVED_SENDER_PREFIXES):
        raise Rejection(400, "invalid_sender", f'"sender" must not start with {RESERVED_SENDER_PREFIXES[0]!r}')
    check_message(message, max_message_chars)
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        raise Rejection(400, "invalid_metadata", '"metadata" must be a JSON object')
    channel = data.get("input_channel")
    if channel is not None and not (isinstance(channel, str) and INPUT_CHANNEL.fullmatch(channel)):
        raise Rejection(400, "invalid_input_channel", '"input_channel" must be a short lowercase name')
    return data


def _socketio_session_id(value: Any) -> str:
    if not isinstance(value, str) or not SENDER.fullmatch(value):
        raise Rejection(
            400,
            "invalid_session_id",
            '"session_id" must be 1-128 characters of letters, digits and . _ : @ - (the one session_confirm gave)',
        )
    if value.startswith(RESERVED_SENDER_PREFIXES):
        raise Rejection(400, "invalid_session_id", f'"session_id" must not start with {RESERVED_SENDER_PREFIXES[0]!r}')
    return value


def validate_socketio_event(event: str, args: tuple, max_message_chars: int = 4000) -> dict | None:
    """The payload of a socket.io `session_request` (None or an object) or user message (an object), checked
    by the REST webhook's rules for texts; raises `Rejection` (status 400 or 413, sent in a `refused` event).

    session_request: no argument, null, or an object whose `session_id` is null or a sender id. A user message:
    one object with a `session_id` (a sender id, not `agent:...`) and a `message` as on the REST webhook;
    `metadata` an object (or a string holding one, which Rasa parses) if given."""
    shape = '{"message": "...", "session_id": "..."}' if event != "session_request" else '{"session_id": ...}'
    if len(args) > 1 or (event != "session_request" and len(args) != 1):
        raise Rejection(400, "invalid_payload", f"{event} takes one argument: {shape}")
    data = args[0] if args else None
    if event == "session_request":
        if data is None:
            return None
        if not isinstance(data, dict):
            raise Rejection(400, "invalid_payload", f"got a JSON {type(data).__name__}: {event} takes {shape}")
        if data.get("session_id") is not None:
            _socketio_session_id(data["session_id"])
        return data
    if not isinstance(data, dict):
        raise Rejection(400, "invalid_payload", f"got a JSON {type(data).__name__}: {event} takes {shape}")
    _socketio_session_id(data.get("session_id"))
    message = data.get("message")
    check_message(message, max_message_chars)
    metadata = data.get("metadata")
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except (ValueError, RecursionError):
            raise Rejection(400, "invalid_metadata", '"metadata" must be a JSON object') from None
    if metadata is not None and not isinstance(metadata, dict):
        raise Rejection(400, "invalid_metadata", '"metadata" must be a JSON object')
    return data


class WebhookGuard:
    """The request middleware: size, body and rate checks (see the module docstring)."""

    def __init__(
        self, max_body_bytes: int, max_message_chars: int, limiter: LocalRateLimiter | RedisRateLimiter
    ) -> None:
        self.max_body_bytes, self.max_message_chars, self.limiter = max_body_bytes, max_message_chars, limiter

    async def __call__(self, request: Request) -> HTTPResponse | None:
        if request.method != "POST" or not request.path.startswith("/webhooks/"):
            return None
        # The declared length counts too: when Sanic refuses a body above REQUEST_MAX_SIZE it still runs
        # the request middleware (while handling that exception) with an empty body.
        declared = request.headers.get("content-length", "")
        size = max(len(request.body or b""), int(declared) if declared.isdigit() else 0)
        if size > self.max_body_bytes:
            logger.info("rejected %s: body of %d bytes", request.path, size)
            return json_error(413, "payload_too_large", f"the request body is larger than {self.max_body_bytes} bytes")
        if request.path.rstrip("/") != REST_WEBHOOK:
            return None
        try:
            data = validate_rest_body(request.body or b"", self.max_message_chars)
        except Rejection as rejection:
            logger.info("rejected %s: %s (%d bytes)", request.path, rejection.code, size)
            return json_error(rejection.status, rejection.code, rejection.message)
        request.parsed_json = data  # Rasa reads exactly what was checked (Sanic would parse with ujson)
        decision = await self.limiter.check(data["sender"])
        if not decision.allowed:
            seconds = retry_after_seconds(decision.retry_after)
            logger.debug("rate limited sender %s for %d s", data["sender"], seconds)
            return json_error(
                429,
                "rate_limited",
                f"too many messages in this conversation (at most {self.limiter.rate:g} a second, "
                f"{self.limiter.burst:g} at once); send it again in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
        return None


def retry_after_seconds(seconds: float) -> int:
    """Retry-After is whole seconds: rounded up, at least 1 (after it, the next message is allowed)."""
    return max(1, math.ceil(seconds - 1e-9))


class RequestGuard(InputChannel):
    """credentials.yml: `addons.request_guard.RequestGuard:` with optional `max_body_bytes`, `max_message_chars`,
    `rate_per_sender`, `rate_burst` (each else from PRIORAUTH_* in the environment) and `rate_redis_url` (else the
    lock store's Redis from the environment: `addons.rate_limit.redis_settings`). It has no routes: Rasa 3.6
    loads input channels before it serves, and this one registers the middleware on the app."""

    @classmethod
    def name(cls) -> str:
        return "request_guard"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> RequestGuard:
        given = credentials or {}

        def setting(key: str, env: str, default: float) -> float:
            return float(given[key]) if given.get(key) is not None else env_number(env, default)

        return cls(
            max_body_bytes=int(setting("max_body_bytes", "PRIORAUTH_MAX_BODY_BYTES", 16 * 1024)),
            max_message_chars=int(setting("max_message_chars", "PRIORAUTH_MAX_MESSAGE_CHARS", 4000)),
            rate_per_sender=setting("rate_per_sender", "PRIORAUTH_RATE_PER_SENDER", DEFAULT_RATE_PER_SENDER),
            rate_burst=setting("rate_burst", "PRIORAUTH_RATE_BURST", DEFAULT_RATE_BURST),
            redis_url=given.get("rate_redis_url") or None,
        )

    def __init__(
        self,
        max_body_bytes: int = 16 * 1024,
        max_message_chars: int = 4000,
        rate_per_sender: float = DEFAULT_RATE_PER_SENDER,
        rate_burst: float = DEFAULT_RATE_BURST,
        redis_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        limiter = make_limiter(rate_per_sender, rate_burst, env=env, url=redis_url)
        self.guard = WebhookGuard(max_body_bytes, max_message_chars, limiter)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hooks = Blueprint("priorauth_request_guard", __name__)
        hooks.listener("before_server_start")(self._configure_app)
        return hooks

    async def _configure_app(self, app, _loop) -> None:
        if "SANIC_REQUEST_MAX_SIZE" not in os.environ:
            app.config.REQUEST_MAX_SIZE = DEFAULT_REQUEST_MAX_SIZE
        app.config.FALLBACK_ERROR_FORMAT = "json"
        app.register_middleware(self.guard, "request")
        logger.info(
            "request checks on: body <= %d bytes on /webhooks/, <= %d bytes overall, %g messages/s per sender "
            "(burst %g), counted %s",
            self.guard.max_body_bytes,
            app.config.REQUEST_MAX_SIZE,
            self.guard.limiter.rate,
            self.guard.limiter.burst,
            self.guard.limiter.describe(),
        )
