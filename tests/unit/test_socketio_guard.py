"""The socket.io payload checks: addons.request_guard.validate_socketio_event and addons.rasa_patches.guard_socketio."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from addons.rasa_patches import REFUSED_EVENT, guard_socketio
from addons.request_guard import Rejection, validate_socketio_event

OK = {"message": "does 27447 need PA?", "session_id": "0f3c9a"}


@pytest.mark.parametrize(
    ("event", "args"),
    [
        ("session_request", ()),
        ("session_request", (None,)),
        ("session_request", ({},)),
        ("session_request", ({"session_id": None, "x": 1},)),
        ("session_request", ({"session_id": "abc-1.2@x:y"},)),
        ("user_uttered", (OK,)),
        ("user_uttered", ({**OK, "metadata": {"a": 1}},)),
        ("user_uttered", ({**OK, "metadata": '{"a": 1}'},)),
        ("user_uttered", ({**OK, "customData": [1, 2]},)),
    ],
)
def test_well_formed_payloads_pass(event, args):
    validate_socketio_event(event, args)


@pytest.mark.parametrize(
    ("event", "args", "status", "code"),
    [
        ("session_request", ("abc",), 400, "invalid_payload"),
        ("session_request", ([1],), 400, "invalid_payload"),
        ("session_request", ({}, {}), 400, "invalid_payload"),
        ("session_request", ({"session_id": {"a": 1}},), 400, "invalid_session_id"),
        ("session_request", ({"session_id": "agent:bob:1"},), 400, "invalid_session_id"),
        ("user_uttered", (), 400, "invalid_payload"),
        ("user_uttered", ("hi",), 400, "invalid_payload"),
        ("user_uttered", (OK, OK), 400, "invalid_payload"),
        ("user_uttered", ({"message": "hi"},), 400, "invalid_session_id"),
        ("user_uttered", ({**OK, "session_id": "a b"},), 400, "invalid_session_id"),
        ("user_uttered", ({**OK, "session_id": "agent:bob:1"},), 400, "invalid_session_id"),
        ("user_uttered", ({**OK, "message": 5},), 400, "invalid_message"),
        ("user_uttered", ({**OK, "message": " \n"},), 400, "invalid_message"),
        ("user_uttered", ({**OK, "message": "a\x00b"},), 400, "invalid_message"),
        ("user_uttered", ({**OK, "message": "a\ud800"},), 400, "invalid_message"),
        ("user_uttered", ({**OK, "message": "x" * 4001},), 413, "message_too_long"),
        ("user_uttered", ({**OK, "metadata": "{not json"},), 400, "invalid_metadata"),
        ("user_uttered", ({**OK, "metadata": [1]},), 400, "invalid_metadata"),
    ],
)
def test_malformed_payloads_are_refused_naming_the_field(event, args, status, code):
    with pytest.raises(Rejection) as refused:
        validate_socketio_event(event, args)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert len(refused.value.message) > 20


class FakeSio:
    def __init__(self):
        self.emitted, self.handled = [], []

        async def session_request(sid, data):
            self.handled.append(("session_request", data))

        async def handle_message(sid, data):
            self.handled.append(("user_uttered", data))

        async def connect(sid, environ, auth):
            return True

        self.handlers = {"/": {"session_request": session_request, "user_uttered": handle_message, "connect": connect}}

    async def emit(self, event, data, to=None):
        self.emitted.append((event, data, to))


def test_guard_wraps_rasas_handlers_once_and_refuses_with_an_event():
    sio = FakeSio()
    app = SimpleNamespace(blueprints={"socketio_webhook": SimpleNamespace(ctx=SimpleNamespace(sio=sio))})
    assert guard_socketio(app) == 2
    assert guard_socketio(app) == 0  # already wrapped
    handlers = sio.handlers["/"]

    async def go():
        refusal = await handlers["user_uttered"]("sid1", {"message": 5, "session_id": "s1"})
        await handlers["user_uttered"]("sid1", OK)
        await handlers["session_request"]("sid1")
        return refusal

    refusal = asyncio.run(go())
    assert refusal["error"] == "invalid_message" and refusal["status"] == 400
    assert sio.emitted == [(REFUSED_EVENT, refusal, "sid1")]
    assert sio.handled == [("user_uttered", OK), ("session_request", None)]
