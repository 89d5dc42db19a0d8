"""The REST hardening of addons/hardening.py on its own, without servers: request validation, the rate
limiter, and the process patches (each installed once)."""

from __future__ import annotations

import json

import pytest

from addons.hardening import RateLimiter, Rejection, validate_rest_body


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_a_good_body_passes_unchanged():
    data = validate_rest_body(body(sender="conv-1", message="hi", metadata={"a": 1}))
    assert data == {"sender": "conv-1", "message": "hi", "metadata": {"a": 1}}


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"", 400, "invalid_request"),
        (b"[]", 400, "invalid_request"),
        (b"{", 400, "invalid_json"),
        (b"[" * 5000 + b"]" * 5000, 400, "invalid_json"),
        (b"\xff", 400, "invalid_json"),
        (body(message="hi"), 400, "invalid_sender"),
        (body(sender="agent:a:b", message="hi"), 400, "invalid_sender"),
        (body(sender="a", message=""), 400, "invalid_message"),
        (body(sender="a", message="a\x00b"), 400, "invalid_message"),
        (b'{"sender": "a", "message": "\\udfff"}', 400, "invalid_message"),
        (body(sender="a", message="x" * 4001), 413, "message_too_long"),
        (body(sender="a", message="hi", metadata=[1]), 400, "invalid_metadata"),
    ],
)
def test_bad_bodies_are_refused_with_a_code(raw, status, code):
    with pytest.raises(Rejection) as refused:
        validate_rest_body(raw)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_rate_limiter_bucket_refills_and_forgets_old_senders():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, max_keys=10, clock=lambda: now[0])
    assert [limiter.allow("a")[0] for _ in range(4)] == [True, True, True, False]
    allowed, retry = limiter.allow("a")
    assert not allowed and 0 < retry <= 0.5
    assert limiter.allow("b")[0]  # other senders are not affected
    now[0] += 0.5
    assert limiter.allow("a")[0]
    for i in range(50):
        limiter.allow(f"s{i}")
    assert len(limiter._buckets) <= 10
    assert RateLimiter(rate=0, burst=1).allow("x") == (True, 0.0)


def test_process_patches_install_once(monkeypatch):
    import logging

    from rasa.core import tracker_store
    from rasa.core.actions.action import RemoteAction
    from rasa.core.agent import Agent
    from rasa.core.tracker_store import FailSafeTrackerStore

    from addons.hardening import install_process_patches
    from priorauth import logfilter

    # The patches are process-wide: Rasa's own methods and the log record factory come back after the test.
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
    try:
        install_process_patches()
        run, handle, save = RemoteAction.run, Agent.handle_message, FailSafeTrackerStore.save
        install_process_patches()
        assert RemoteAction.run is run and Agent.handle_message is handle and FailSafeTrackerStore.save is save
        assert run.priorauth_patched and handle.priorauth_patched and save.priorauth_patched
    finally:
        logging.setLogRecordFactory(factory)
