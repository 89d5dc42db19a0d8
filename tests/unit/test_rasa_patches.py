"""addons/rasa_patches.py: the patches of Rasa 3.6 are installed once, by the channel that exists for that."""

from __future__ import annotations

import logging

import jsonschema
import pytest
from rasa.core import tracker_store
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.tracker_store import FailSafeTrackerStore

from addons.rasa_patches import RasaPatches, install, patch_action_result_validation
from priorauth import logfilter


@pytest.fixture
def rasa_restored(monkeypatch):
    """The patches are process-wide: Rasa's own methods and the log record factory come back after the test."""
    for owner, name in (
        (RemoteAction, "run"),
        (RemoteAction, "_validate_action_result"),
        (Agent, "handle_message"),
        (FailSafeTrackerStore, "save"),
        (FailSafeTrackerStore, "retrieve"),
        (FailSafeTrackerStore, "retrieve_full_tracker"),
        (tracker_store, "create_engine_kwargs"),
    ):
        monkeypatch.setattr(owner, name, getattr(owner, name))
    monkeypatch.setattr(logfilter, "_installed", logfilter._installed)
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


def test_the_patches_install_once(rasa_restored):
    original = RemoteAction.run
    install()
    run, handle, save = RemoteAction.run, Agent.handle_message, FailSafeTrackerStore.save
    install()
    assert RemoteAction.run is run and Agent.handle_message is handle and FailSafeTrackerStore.save is save
    assert run is not original and run.__wrapped__ is original
    assert run.priorauth_patched and handle.priorauth_patched and save.priorauth_patched


def test_the_channel_installs_them_and_serves_no_route(rasa_restored):
    channel = RasaPatches.from_credentials(None)
    assert Agent.handle_message.priorauth_patched
    assert tracker_store.create_engine_kwargs("postgresql://db/x")["pool_pre_ping"] is True
    blueprint = channel.blueprint(lambda message: None)
    assert blueprint._future_routes == set()


RESPONSES = [
    {"events": [{"event": "slot", "name": "plan", "value": "Anthem"}], "responses": [{"text": "Yes: ..."}]},
    {"events": [], "responses": []},
    {},
    {"events": [{"event": "bot", "text": "hi", "data": {"buttons": []}}], "responses": [{"custom": {"a": 1}}]},
]
BAD_RESPONSES = [
    {"events": "not a list", "responses": []},
    {"events": [{"event": 3}], "responses": []},
    {"events": [], "responses": "x"},
    [],
]


def _verdict(action, result):
    try:
        return action._validate_action_result(result)
    except jsonschema.ValidationError as error:
        return ("invalid", error.message, list(error.absolute_path))


def test_the_action_result_is_judged_as_rasa_judges_it_by_a_validator_made_once(rasa_restored, monkeypatch):
    action = RemoteAction("action_answer", None)
    expected = [_verdict(action, r) for r in RESPONSES + BAD_RESPONSES]
    assert expected[: len(RESPONSES)] == [True] * len(RESPONSES)
    assert all(v[0] == "invalid" and "Failed to validate Action server response" in v[1] for v in expected[4:])

    patch_action_result_validation()
    patched = RemoteAction._validate_action_result
    assert patched.priorauth_patched
    patch_action_result_validation()
    assert RemoteAction._validate_action_result is patched
    # Rasa's way checks the schema on every call; the patched one never does.
    monkeypatch.setattr(jsonschema.validators.Draft202012Validator, "check_schema", None)
    assert [_verdict(action, r) for r in RESPONSES + BAD_RESPONSES] == expected


def test_the_action_endpoint_keeps_one_connection_and_rasa_s_request_contract(rasa_restored, monkeypatch):
    """Two calls to an endpoint go over one kept-alive connection; headers, token, JSON result, None for a body
    that is not JSON and Rasa's error for a 4xx are unchanged."""
    from aiohttp import web
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    from addons.rasa_patches import close_shared_sessions, patch_endpoint_session

    monkeypatch.setattr(EndpointConfig, "request", EndpointConfig.request)
    patch_endpoint_session()
    peers, seen = set(), []

    async def webhook(request):
        peers.add(request.transport.get_extra_info("peername"))
        seen.append((request.headers.get("X-Extra"), request.query.get("token"), await request.json()))
        return web.json_response({"events": [], "responses": [{"text": "ok"}]})

    async def refuse(request):
        return web.Response(status=400, text='{"error": "no"}')

    async def plain(request):
        return web.Response(text="not json")

    async def scenario():
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        app.router.add_post("/refuse", refuse)
        app.router.add_post("/plain", plain)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}", headers={"X-Extra": "1"}, token="t0k")
        try:
            first = await endpoint.request(json={"n": 1}, subpath="webhook", timeout=5)
            second = await endpoint.request(json={"n": 2}, subpath="webhook")
            with pytest.raises(ClientResponseError) as refused:
                await endpoint.request(json={}, subpath="refuse")
            not_json = await endpoint.request(json={}, subpath="plain")
        finally:
            await close_shared_sessions()
            await runner.cleanup()
        return first, second, refused.value, not_json

    import asyncio

    first, second, refused, not_json = asyncio.run(scenario())
    assert first == second == {"events": [], "responses": [{"text": "ok"}]}
    assert seen == [("1", "t0k", {"n": 1}), ("1", "t0k", {"n": 2})]
    assert len(peers) == 1, peers  # one client port: the connection was kept and reused
    assert refused.status == 400 and b"no" in refused.text
    assert not_json is None
