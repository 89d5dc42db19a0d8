"""Seven patches of Rasa 3.6 internals (checked on 3.6.21), and the input channel that installs them.

Each patch names the Rasa issue it works around; remove it when Rasa fixes that behaviour.
1. `patch_remote_action`: a reply when the action server fails (`RemoteAction.run`).
2. `patch_agent`: a reply when a message cannot be processed at all (`Agent.handle_message`): tracker store or
   lock store unreachable, lock timeout. Rasa 3.6's REST channel would answer HTTP 200 `[]`, socket.io nothing.
3. `patch_tracker_store_engine`: the SQL tracker store reconnects after a database restart.
4. `patch_tracker_store_fallback`: no silent fallback of the tracker store to this replica's memory.
5. `patch_action_result_validation`: the action server's response checked against a validator made once.
6. `patch_endpoint_session`: one HTTP client per process for the action server, its connections kept alive.
7. `guard_socketio`: socket.io `session_request` and user messages checked before Rasa's handlers see them.
`install()` also masks member ids and dates of birth in every log record (`priorauth.logfilter`).

Rasa 3.6 offers no start-up hook to `rasa run` but the ones it loads from its configuration (input channels,
components, stores; `rasa.plugin`'s hooks serve only Rasa Pro). So `RasaPatches`, listed in credentials.yml as
`addons.rasa_patches.RasaPatches:`, is a channel without routes whose only job is to call `install()` once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint

from priorauth import logfilter
from priorauth.config import env_number

logger = logging.getLogger(__name__)

UNAVAILABLE_RESPONSE = "utter_service_unavailable"
# Used only when the domain has no utter_service_unavailable.
UNAVAILABLE_TEXT = (
    "Sorry, I can't answer right now: the service is temporarily unavailable. Please try again in a "
    "minute, or call the number on the back of the member's ID card."
)


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

    For Rasa 3.6 (checked on 3.6.21); Rasa's own request for it: https://github.com/RasaHQ/rasa/issues/5588
    ("Default message if action server throws an exception", closed without a change to Rasa).

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
    limit = timeout if timeout is not None else env_number("PRIORAUTH_ACTION_TIMEOUT", 30.0)

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

    For Rasa 3.6 (3.6.21). No Rasa issue asks for this reply; the exception reaching the channel is what
    https://github.com/RasaHQ/rasa/issues/6290 and https://github.com/RasaHQ/rasa/issues/7921 show.

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

    For Rasa 3.6 (3.6.21). No Rasa issue found; SQLAlchemy's answer to a database restart is pre-ping:
    https://github.com/sqlalchemy/sqlalchemy/issues/5776

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

    For Rasa 3.6 (3.6.21). The fallback came from https://github.com/RasaHQ/rasa/issues/3243 (PR #4699); its
    lost messages are reported there (2025) and remain in 3.6.

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


def patch_action_result_validation() -> None:
    """The action server's response is validated by one validator made at start, not one per call.

    For Rasa 3.6 (3.6.21). No Rasa issue found; jsonschema's own advice is to make a validator once for
    repeated validation (`jsonschema.validate` "will first verify that the provided schema is itself
    valid"; https://python-jsonschema.readthedocs.io/en/stable/validate/).

    `RemoteAction._validate_action_result` (rasa/core/actions/action.py) calls `jsonschema.validate(result,
    spec)` for every custom action: with jsonschema 4.17 that checks Rasa's response schema against the
    2020-12 metaschema every time, then builds a validator. Profiled under load (bench/README.md) it was a
    third of the Rasa server's CPU, about 50 ms a turn; with the validator made once it is about 3 ms. The
    same schema, the same draft (the one `validate` picks), the same error (`best_match`) and the same
    message appended to it.
    """
    from jsonschema import validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions import action as rasa_action

    if getattr(rasa_action.RemoteAction._validate_action_result, "priorauth_patched", False):
        return
    original = rasa_action.RemoteAction._validate_action_result
    spec = rasa_action.RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(spec)
    validator_class.check_schema(spec)
    validator = validator_class(spec)

    @functools.wraps(original)
    def _validate_action_result(self, result):
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the Action "
            f"endpoint is valid. For more information about the format visit {rasa_action.DOCS_BASE_URL}/custom-actions"
        )
        raise error

    _validate_action_result.priorauth_patched = True  # type: ignore[attr-defined]
    rasa_action.RemoteAction._validate_action_result = _validate_action_result


# aiohttp keeps an idle connection this long; under the action server's keep-alive timeout (Sanic's 5 s), so
# the client never sends on a connection the server is closing.
KEEPALIVE_SECONDS = 2.0
_sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _shared_session() -> Any:
    import aiohttp

    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(
            limit=int(env_number("PRIORAUTH_ACTION_CONNECTIONS", 100)), keepalive_timeout=KEEPALIVE_SECONDS
        )
        session = _sessions[loop] = aiohttp.ClientSession(connector=connector)
    return session


async def close_shared_sessions() -> None:
    """Close this loop's shared client (the channel's blueprint calls it when the server stops)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


def patch_endpoint_session() -> None:
    """Requests to the action server (and any other Rasa endpoint) share one HTTP client and its connections.

    For Rasa 3.6 (3.6.21). No Rasa issue found; aiohttp's own advice: "Don't create a session per request"
    (https://docs.aiohttp.org/en/stable/client_quickstart.html#make-a-request).

    `EndpointConfig.request` (rasa/utils/endpoints.py) makes a new `aiohttp.ClientSession` for every call, so
    every custom action opens and closes a TCP connection to the action server and builds a client (a
    connector, a cookie jar). Here one session per event loop keeps up to `PRIORAUTH_ACTION_CONNECTIONS`
    (100) connections alive for `KEEPALIVE_SECONDS`. Headers, authentication, query parameters, the
    timeout (Rasa's `DEFAULT_REQUEST_TIMEOUT` unless the caller gives one), the error raised for an HTTP
    status of 400 or more and the JSON-or-None result are Rasa's. An endpoint with its own CA file
    (`cafile`) keeps Rasa's own request.
    """
    import aiohttp
    from aiohttp.client_exceptions import ContentTypeError
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
    from rasa.utils import endpoints

    if getattr(endpoints.EndpointConfig.request, "priorauth_patched", False):
        return
    original = endpoints.EndpointConfig.request

    @functools.wraps(original)
    async def request(self, method="post", subpath=None, content_type="application/json", compress=False, **kwargs):
        if self.cafile:
            return await original(self, method, subpath, content_type, compress, **kwargs)
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(kwargs.pop("headers", None) or {})
        headers.update(self.headers or {})
        if self.basic_auth:
            kwargs["auth"] = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
        kwargs.setdefault("timeout", aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT))
        params = self.combine_parameters(kwargs)
        url = endpoints.concat_url(self.url, subpath)
        async with _shared_session().request(
            method, url, headers=headers, params=params, compress=compress, **kwargs
        ) as response:
            if response.status >= 400:
                raise endpoints.ClientResponseError(response.status, response.reason, await response.content.read())
            try:
                return await response.json()
            except ContentTypeError:
                return None

    request.priorauth_patched = True  # type: ignore[attr-defined]
    endpoints.EndpointConfig.request = request


REFUSED_EVENT = "refused"


def guard_socketio(app: Any, max_message_chars: int | None = None) -> int:
    """Rasa's socket.io handlers get only payloads they can handle; the others are refused with a reason.

    For Rasa 3.6 (3.6.21); found by the production layer's fuzzing (tests/production/test_fuzz.py). No Rasa issue
    found. `SocketIOInput.blueprint` (rasa/core/channels/socketio.py) handles `session_request` and the user
    message event with no check at all: a payload that is not an object, a second argument or none, an
    unhashable `session_id` or a `metadata` string that is not JSON raise inside the handler (python-socketio
    logs a traceback, the client hears nothing), and any text of any size and type (a number, a list, "",
    NUL characters, lone surrogates, a megabyte) goes to NLU and into the tracker store, in any conversation
    including the agent channel's (`agent:...`). Wrapped here, each payload is checked by the REST webhook's
    rules (`addons.request_guard.validate_socketio_event`) and a refused one gets a `refused` event (and the
    acknowledgement, when the client asked for one) `{"error", "message", "status"}`; nothing of it is processed
    or stored. Returns the number of handlers wrapped.
    """
    from addons.request_guard import Rejection, validate_socketio_event

    limit = int(max_message_chars or env_number("PRIORAUTH_MAX_MESSAGE_CHARS", 4000))
    wrapped = 0
    for blueprint in list(getattr(app, "blueprints", {}).values()):
        sio = getattr(getattr(blueprint, "ctx", None), "sio", None)
        if sio is None:
            continue
        for handlers in sio.handlers.values():
            for event, handler in list(handlers.items()):
                if getattr(handler, "priorauth_patched", False) or handler.__name__ not in (
                    "session_request",
                    "handle_message",
                ):
                    continue
                handlers[event] = _checked_handler(sio, event, handler, limit, Rejection, validate_socketio_event)
                wrapped += 1
    return wrapped


def _checked_handler(sio, event, handler, limit, rejection_type, validate):
    kind = "session_request" if handler.__name__ == "session_request" else event

    @functools.wraps(handler)
    async def checked(sid, *args):
        try:
            data = validate(kind, args, limit)
        except rejection_type as rejection:
            logger.info("socket.io: refused %s: %s", event, rejection.code)
            refusal = {"error": rejection.code, "message": rejection.message, "status": rejection.status}
            await sio.emit(REFUSED_EVENT, refusal, to=sid)
            return refusal
        return await handler(sid, data)

    checked.priorauth_patched = True  # type: ignore[attr-defined]
    return checked


_install_lock = threading.Lock()


def install() -> None:
    """Log masking and the six patches, once per process (a second call changes nothing)."""
    with _install_lock:
        logfilter.install()
        patch_remote_action()
        patch_agent()
        patch_tracker_store_engine()
        patch_tracker_store_fallback()
        patch_action_result_validation()
        patch_endpoint_session()


class RasaPatches(InputChannel):
    """credentials.yml: `addons.rasa_patches.RasaPatches:` (no settings). No routes: see the module docstring."""

    @classmethod
    def name(cls) -> str:
        return "rasa_patches"

    def __init__(self) -> None:
        install()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("priorauth_rasa_patches", __name__)

        @blueprint.listener("before_server_start")
        async def check_socketio(app, loop) -> None:
            if guard_socketio(app):
                logger.info("socket.io payloads checked (session_request, user messages)")

        @blueprint.listener("after_server_stop")
        async def close_clients(app, loop) -> None:
            await close_shared_sessions()

        return blueprint
