"""Production hardening of the Rasa server, loaded from credentials.yml as `addons.hardening.Hardening:`.

Rasa 3.6 loads input channels before it serves; this "channel" has no routes of its own. It is the hook
that installs, once per process:

1. **Request checks in front of the webhooks** (a Sanic request middleware registered on the app):
   - every POST under /webhooks/: 413 above `PRIORAUTH_MAX_BODY_BYTES` (16 KiB);
   - POST /webhooks/rest/webhook: 400 unless the body is a UTF-8 JSON object with a string `sender`
     (1-128 of ``A-Z a-z 0-9 . _ : @ -``, not the agent channel's ``agent:`` namespace) and a non-empty
     string `message` (no NUL, valid Unicode, at most `PRIORAUTH_MAX_MESSAGE_CHARS` = 4000, else 413);
     `metadata` an object and `input_channel` a short name if given. Rasa itself answers 500 to an empty
     body or a JSON array. What Rasa then reads is exactly the object that was checked.
   - a per-sender token bucket on that webhook: `PRIORAUTH_RATE_PER_SENDER` messages per second
     (3), bursts of `PRIORAUTH_RATE_BURST` (30); 429 with Retry-After above it. In-process: each
     replica counts its own (with sticky routing, one replica sees a conversation).
   Errors are JSON {"error": code, "message": text}; the app's own errors (404, 405, 413 from Sanic)
   are JSON too, without tracebacks. `SANIC_REQUEST_MAX_SIZE` (else 1 MiB here) caps every body.
2. **Log masking** of member ids and dates of birth (`priorauth.logfilter.install`).
3. **A reply when the action server fails** (patch of `RemoteAction.run`, see `patch_remote_action`).
4. **A reply when a message cannot be processed at all** (tracker store or lock store unreachable,
   lock timeout: patch of `Agent.handle_message`, see `patch_agent`). Rasa 3.6's REST channel would
   answer HTTP 200 `[]` - a silent bot - and the socket.io channel nothing.
5. **No silent fallback of the tracker store** to a per-replica memory store when the database fails
   (`patch_tracker_store_fallback`), and reconnection after a database restart (`patch_tracker_store_engine`).

`AtomicRedisLockStore` (endpoints.yml `lock_store: type: addons.hardening.AtomicRedisLockStore`) is
Rasa's Redis lock store with its read-modify-write steps made atomic.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.lock_store import DEFAULT_SOCKET_TIMEOUT_IN_SECONDS, LOCK_LIFETIME, LockError, RedisLockStore
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from priorauth import logfilter

logger = logging.getLogger(__name__)

UNAVAILABLE_RESPONSE = "utter_service_unavailable"
# Used only when the domain has no utter_service_unavailable.
UNAVAILABLE_TEXT = (
    "Sorry, I can't answer right now: the service is temporarily unavailable. Please try again in a "
    "minute, or call the number on the back of the member's ID card."
)
REST_WEBHOOK = "/webhooks/rest/webhook"
SENDER = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
RESERVED_SENDER_PREFIXES = ("agent:",)  # the agent side panel's conversations (addons/agent_channel.py)
INPUT_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
DEFAULT_REQUEST_MAX_SIZE = 1024 * 1024
UNCHANGED = object()  # AtomicRedisLockStore: nothing to write


def _env_number(name: str, default: float, environ: dict | None = None) -> float:
    value = (os.environ if environ is None else environ).get(name, "")
    try:
        return float(value) if value.strip() else default
    except ValueError:
        logger.warning("%s=%r is not a number; using %s", name, value, default)
        return default


# --- request validation -----------------------------------------------------------------------


class Rejection(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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
    if not isinstance(message, str):
        raise Rejection(400, "invalid_message", '"message" must be a string')
    if not message.strip():
        raise Rejection(400, "invalid_message", '"message" must not be empty')
    if "\x00" in message or _has_lone_surrogate(message):
        raise Rejection(400, "invalid_message", '"message" must be text (no NUL characters or lone surrogates)')
    if len(message) > max_message_chars:
        raise Rejection(413, "message_too_long", f'"message" is longer than {max_message_chars} characters')
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        raise Rejection(400, "invalid_metadata", '"metadata" must be a JSON object')
    channel = data.get("input_channel")
    if channel is not None and not (isinstance(channel, str) and INPUT_CHANNEL.fullmatch(channel)):
        raise Rejection(400, "invalid_input_channel", '"input_channel" must be a short lowercase name')
    return data


class RateLimiter:
    """Token buckets per key: `rate` tokens a second, at most `burst`; least recently used keys are
    forgotten above `max_keys`. A rate of 0 or less disables it."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.max_keys, self.clock = rate, max(1.0, burst), max_keys, clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds until the next token)."""
        if self.rate <= 0:
            return True, 0.0
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)  # re-inserted last: dict order is recency
        if len(self._buckets) > self.max_keys:
            for old in list(self._buckets)[: len(self._buckets) // 4]:
                del self._buckets[old]
        return allowed, 0.0 if allowed else (1 - tokens) / self.rate


def _error(status: int, code: str, message: str, headers: dict | None = None) -> HTTPResponse:
    return response.json({"error": code, "message": message}, status=status, headers=headers)


class WebhookGuard:
    """The request middleware (see the module docstring)."""

    def __init__(self, max_body_bytes: int, max_message_chars: int, limiter: RateLimiter) -> None:
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
            return _error(413, "payload_too_large", f"the request body is larger than {self.max_body_bytes} bytes")
        if request.path.rstrip("/") != REST_WEBHOOK:
            return None
        try:
            data = validate_rest_body(request.body or b"", self.max_message_chars)
        except Rejection as rejection:
            logger.info("rejected %s: %s (%d bytes)", request.path, rejection.code, size)
            return _error(rejection.status, rejection.code, rejection.message)
        request.parsed_json = data  # Rasa reads exactly what was checked (Sanic would parse with ujson)
        allowed, retry_after = self.limiter.allow(data["sender"])
        if not allowed:
            logger.debug("rate limited sender %s", data["sender"])
            return _error(
                429,
                "rate_limited",
                "too many messages in this conversation; wait a moment and send it again",
                headers={"Retry-After": str(max(1, int(retry_after + 0.999)))},
            )
        return None


# --- replies instead of silence -----------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    """Exception types along the cause chain, never their messages (they can quote SQL parameters)."""
    names, seen = [], set()
    while exc is not None and id(exc) not in seen and len(names) < 5:
        seen.add(id(exc))
        status = getattr(exc, "status", None)
        names.append(type(exc).__name__ + (f" (HTTP {status})" if isinstance(status, int) else ""))
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(names)


def unavailable_text(domain: Any) -> str:
    """The text of the domain's utter_service_unavailable (first variation), else a built-in one."""
    try:
        for variation in (domain.responses or {}).get(UNAVAILABLE_RESPONSE) or []:
            if variation.get("text"):
                return variation["text"]
    except AttributeError:
        pass
    return UNAVAILABLE_TEXT


def patch_remote_action(timeout: float | None = None) -> None:
    """Custom action failures become a `utter_service_unavailable` reply instead of silence.

    Rasa 3.6's `RemoteAction.run` (rasa/core/actions/action.py) turns a refused connection, a non-200
    answer or a dead action server into a `RasaException`; `MessageProcessor._run_action`
    (rasa/core/processor.py) logs it, drops the action's events and goes on: the user gets no reply at
    all. Wrapped here, every such failure returns the events of the response action
    `utter_service_unavailable` (a `BotUttered`, sent to the user by the processor's side effects and
    kept in the tracker), and the conversation goes on as after any reply: once the action server is
    back, the next message is answered normally. `ActionExecutionRejection` (a form's validation
    rejecting) and cancellation pass through unchanged. The call is also bounded by
    `PRIORAUTH_ACTION_TIMEOUT` seconds (30; Rasa waits 5 minutes), so that a turn stays well inside
    the conversation lock's lifetime.
    """
    from rasa.core.actions import action as rasa_action

    if getattr(rasa_action.RemoteAction.run, "priorauth_patched", False):
        return
    original = rasa_action.RemoteAction.run
    limit = timeout if timeout is not None else _env_number("PRIORAUTH_ACTION_TIMEOUT", 30.0)

    @functools.wraps(original)
    async def run(self, output_channel, nlg, tracker, domain):
        try:
            return await asyncio.wait_for(original(self, output_channel, nlg, tracker, domain), limit or None)
        except rasa_action.ActionExecutionRejection:
            raise
        except Exception as exc:  # connection refused, HTTP 5xx or 404, timeout: see the docstring
            logger.error("custom action %s failed (%s); replying %s", self.name(), _describe(exc), UNAVAILABLE_RESPONSE)
            return await _unavailable_events(output_channel, nlg, tracker, domain)

    run.priorauth_patched = True  # type: ignore[attr-defined]
    rasa_action.RemoteAction.run = run


async def _unavailable_events(output_channel, nlg, tracker, domain) -> list:
    from rasa.core.actions.action import ActionBotResponse
    from rasa.shared.core.events import BotUttered

    try:
        events = await ActionBotResponse(UNAVAILABLE_RESPONSE, silent_fail=True).run(
            output_channel, nlg, tracker, domain
        )
    except Exception as exc:
        logger.error("could not render %s (%s)", UNAVAILABLE_RESPONSE, _describe(exc))
        events = []
    return events or [BotUttered(text=unavailable_text(domain), metadata={"utter_action": UNAVAILABLE_RESPONSE})]


def patch_agent() -> None:
    """A message that cannot be processed at all gets a "temporarily unavailable" reply.

    `Agent.handle_message` (rasa/core/agent.py) takes the conversation lock and runs the processor;
    when the lock store or the tracker store fails (database or Redis down, a `LockError` after the
    lock's lifetime), the exception reaches the channel: the REST channel logs it with the message
    text and answers 200 `[]`, socket.io sends nothing. Wrapped here, the user gets the domain's
    `utter_service_unavailable` text on the same output channel, the log names the exception types
    only, and the next message is tried afresh (the stores reconnect on their own).
    """
    from rasa.core.agent import Agent

    if getattr(Agent.handle_message, "priorauth_patched", False):
        return
    original = Agent.handle_message

    @functools.wraps(original)
    async def handle_message(self, message: UserMessage):
        try:
            return await original(self, message)
        except Exception as exc:
            logger.error(
                "message in conversation %s not processed (%s); replying that the service is unavailable",
                message.sender_id,
                _describe(exc),
            )
            try:
                await message.output_channel.send_response(message.sender_id, {"text": unavailable_text(self.domain)})
            except Exception as send_error:
                logger.error("could not send the unavailable reply (%s)", _describe(send_error))
            return None

    handle_message.priorauth_patched = True  # type: ignore[attr-defined]
    Agent.handle_message = handle_message


def patch_tracker_store_engine() -> None:
    """The SQL tracker store's PostgreSQL engine checks a pooled connection before using it.

    Rasa 3.6 builds it without `pool_pre_ping` (rasa/core/tracker_store.py `create_engine_kwargs`):
    after a database restart every pooled connection is dead and each fails one message. With the
    ping, the first message after the database is back is answered.
    """
    from rasa.core import tracker_store

    if getattr(tracker_store.create_engine_kwargs, "priorauth_patched", False):
        return
    original = tracker_store.create_engine_kwargs

    @functools.wraps(original)
    def create_engine_kwargs(url):
        kwargs = original(url)
        if tracker_store.is_postgresql_url(url):
            kwargs.setdefault("pool_pre_ping", True)
        return kwargs

    create_engine_kwargs.priorauth_patched = True  # type: ignore[attr-defined]
    tracker_store.create_engine_kwargs = create_engine_kwargs


def patch_tracker_store_fallback() -> None:
    """A tracker store failure is an error, not a silent switch to this replica's memory.

    Rasa 3.6 wraps the configured store in `FailSafeTrackerStore` (rasa/core/tracker_store.py, made in
    rasa/core/agent.py): when the database fails, `retrieve` returns None - the conversation silently
    starts over, its context and open form gone - and `save` writes to an `InMemoryTrackerStore` of
    this replica alone - the turn never reaches the database or the other replicas. Here both raise,
    so `patch_agent` tells the user to try again, and the next message finds the conversation intact.
    """
    from rasa.core.tracker_store import FailSafeTrackerStore

    if getattr(FailSafeTrackerStore.save, "priorauth_patched", False):
        return

    async def retrieve(self, sender_id):
        return await self._tracker_store.retrieve(sender_id)

    async def retrieve_full_tracker(self, sender_id):
        return await self._tracker_store.retrieve_full_tracker(sender_id)

    async def save(self, tracker):
        await self._tracker_store.save(tracker)

    for method in (retrieve, retrieve_full_tracker, save):
        method.priorauth_patched = True  # type: ignore[attr-defined]
        setattr(FailSafeTrackerStore, method.__name__, method)


_patch_lock = threading.Lock()


def install_process_patches() -> None:
    """Log masking, the reply patches and the tracker store's; idempotent."""
    with _patch_lock:
        logfilter.install()
        patch_remote_action()
        patch_agent()
        patch_tracker_store_engine()
        patch_tracker_store_fallback()


# --- the channel that installs it all ---------------------------------------------------------------


class Hardening(InputChannel):
    """credentials.yml: `addons.hardening.Hardening:` with optional `max_body_bytes`, `max_message_chars`,
    `rate_per_sender`, `rate_burst` (each else from PRIORAUTH_* in the environment)."""

    @classmethod
    def name(cls) -> str:
        return "hardening"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> Hardening:
        given = credentials or {}

        def setting(key: str, env: str, default: float) -> float:
            return float(given[key]) if given.get(key) is not None else _env_number(env, default)

        return cls(
            max_body_bytes=int(setting("max_body_bytes", "PRIORAUTH_MAX_BODY_BYTES", 16 * 1024)),
            max_message_chars=int(setting("max_message_chars", "PRIORAUTH_MAX_MESSAGE_CHARS", 4000)),
            rate_per_sender=setting("rate_per_sender", "PRIORAUTH_RATE_PER_SENDER", 3.0),
            rate_burst=setting("rate_burst", "PRIORAUTH_RATE_BURST", 30.0),
        )

    def __init__(
        self,
        max_body_bytes: int = 16 * 1024,
        max_message_chars: int = 4000,
        rate_per_sender: float = 3.0,
        rate_burst: float = 30.0,
    ) -> None:
        install_process_patches()
        self.guard = WebhookGuard(max_body_bytes, max_message_chars, RateLimiter(rate_per_sender, rate_burst))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hooks = Blueprint("priorauth_hardening", __name__)
        hooks.listener("before_server_start")(self._configure_app)
        return hooks

    async def _configure_app(self, app, _loop) -> None:
        if "SANIC_REQUEST_MAX_SIZE" not in os.environ:
            app.config.REQUEST_MAX_SIZE = DEFAULT_REQUEST_MAX_SIZE
        app.config.FALLBACK_ERROR_FORMAT = "json"
        app.register_middleware(self.guard, "request")
        logger.info(
            "request checks on: body <= %d bytes on /webhooks/, <= %d bytes overall, %s messages/s per sender "
            "(burst %d)",
            self.guard.max_body_bytes,
            app.config.REQUEST_MAX_SIZE,
            self.guard.limiter.rate,
            self.guard.limiter.burst,
        )


# --- lock store --------------------------------------------------------------------------------


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store with atomic ticket operations, for several Rasa replicas.

    Rasa 3.6's `RedisLockStore` reads a conversation's lock, changes it in Python and writes it back
    (GET then SET) when it issues a ticket, finishes one, or drops expired ones; `cleanup` then reads
    again and deletes the key when nobody seems to wait. Two replicas doing this for one conversation
    at the same moment can issue the same ticket twice (both turns run at once), lose a ticket (a turn
    then waits the whole lock lifetime), or delete the lock under a waiting turn (it fails with
    `LockError`, and the REST channel answers `[]`). Here every change runs in a Redis transaction
    (WATCH/MULTI/EXEC, retried on conflict), and a lock key expires a minute after its last ticket.

    endpoints.yml:
        lock_store:
          type: addons.hardening.AtomicRedisLockStore
          url: ${PRIORAUTH_REDIS_URL}     # redis://[:password@]host:port/db (rediss:// for TLS); or a host name
          key_prefix: priorauth           # optional; port, db, password, use_ssl as Rasa's redis type
    """

    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        import redis
        from rasa.core.lock_store import DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX, LockStore

        options = dict(getattr(endpoint_config, "kwargs", None) or {})
        options.update(kwargs)
        url = getattr(endpoint_config, "url", None) or options.pop("url", None) or "localhost"
        key_prefix = options.pop("key_prefix", None)
        timeout = float(options.pop("socket_timeout", DEFAULT_SOCKET_TIMEOUT_IN_SECONDS))
        if "://" in url:
            self.red = redis.Redis.from_url(url, socket_timeout=timeout)
        else:
            self.red = redis.Redis(
                host=url,
                port=int(options.get("port", 6379)),
                db=int(options.get("db", 1)),
                username=options.get("username"),
                password=options.get("password"),
                ssl=bool(options.get("use_ssl", False)),
                socket_timeout=timeout,
            )
        self.key_prefix = DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX
        if key_prefix:
            self._set_key_prefix(str(key_prefix))
        LockStore.__init__(self)

    def _transact(self, conversation_id: str, change: Callable[[Any], tuple[Any, Any]]) -> Any:
        """Runs change(lock or None) -> (lock to save, None to delete, or UNCHANGED; result) atomically."""
        import redis
        from rasa.core.lock import TicketLock

        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            for _ in range(1000):
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(raw)) if raw else None
                    new_lock, result = change(lock)
                    if new_lock is UNCHANGED or (new_lock is None and lock is None):
                        pipe.unwatch()
                        return result
                    pipe.multi()
                    if new_lock is None:
                        pipe.delete(key)
                    else:
                        expires = max((t.expires for t in new_lock.tickets), default=time.time())
                        pipe.set(key, new_lock.dumps(), ex=max(1, int(expires - time.time()) + 60))
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue
        raise LockError(f"Could not update the lock of conversation '{conversation_id}' (contention).")

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def change(lock):
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._transact(conversation_id, change)
        except LockError:
            raise
        except Exception as exc:
            raise LockError(f"Error while acquiring lock. Error:\n{_describe(exc)}") from exc

    def update_lock(self, conversation_id: str) -> None:
        # Called by every waiting turn at each poll: it writes only when a ticket has expired.
        def change(lock):
            if lock is None or not any(t.has_expired() for t in lock.tickets):
                return UNCHANGED, None
            lock.remove_expired_tickets()
            return lock, None

        self._transact(conversation_id, change)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def change(lock):
            if lock is None:
                return UNCHANGED, None
            lock.remove_ticket_for(ticket_number)
            return lock, None

        self._transact(conversation_id, change)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        def change(lock):
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else None), None

        self._transact(conversation_id, change)
