"""addons/rasa_patches.py: the patches of Rasa 3.6 are installed once, by the channel that exists for that."""

from __future__ import annotations

import logging

import pytest
from rasa.core import tracker_store
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.tracker_store import FailSafeTrackerStore

from addons.rasa_patches import RasaPatches, install
from priorauth import logfilter


@pytest.fixture
def rasa_restored(monkeypatch):
    """The patches are process-wide: Rasa's own methods and the log record factory come back after the test."""
    for owner, name in (
        (RemoteAction, "run"),
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
