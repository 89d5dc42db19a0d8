"""actions/backend.py after a database outage, on the real PostgreSQL of scripts/services.sh (tests/required.py's
rule when absent): the outage reply resets the backend, and the reset leaves no connection of the old pool
checked out or open, in the pool's own status and on the server (pg_stat_activity)."""

from __future__ import annotations

import time
import uuid

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from actions import backend, replies
from priorauth.db import make_engine, make_session_factory
from tests.production.tcpproxy import TcpProxy
from tests.required import pg_url_or_skip


def server_connections(admin, tag: str) -> int:
    with admin.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :t"), {"t": tag}
        ).scalar()


def wait_for(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def admin():
    engine = make_engine(pg_url_or_skip())
    yield engine
    engine.dispose()


def pooled_backend(url: str, tag: str, monkeypatch, open_connections: int = 3):
    """The backend with an engine whose pool holds `open_connections` idle connections (as after a busy moment);
    statements are cut after 200 ms, as PRIORAUTH_DATABASE_URL's statement_timeout cuts them after 5 s."""
    engine = make_engine(url, connect_args={"application_name": tag, "options": "-c statement_timeout=200"})
    factory = make_session_factory(engine)
    sessions = [factory() for _ in range(open_connections)]
    for session in sessions:
        session.execute(text("SELECT 1"))
    for session in sessions:
        session.close()
    monkeypatch.setattr(backend, "_factory", factory)
    return engine, factory


def outage_reply(factory, query: str = "SELECT 1") -> CollectingDispatcher:
    """An action's query fails; the action answers the outage the way every action does (actions/replies.py)."""
    dispatcher = CollectingDispatcher()
    with pytest.raises(OperationalError) as failed, factory() as session:
        session.execute(text(query))
    replies.service_unavailable(dispatcher, failed.value)
    return dispatcher


def test_a_reset_after_a_database_that_stopped_answering_closes_the_whole_pool(admin, monkeypatch):
    """The database too slow (statement_timeout): the failed query's connection and the idle ones all go; before
    the engine was disposed, the idle ones stayed open on the server, one pool per outage."""
    tag = "pool-" + uuid.uuid4().hex[:8]
    engine, factory = pooled_backend(admin.url.render_as_string(hide_password=False), tag, monkeypatch)
    pool = engine.pool
    assert (pool.checkedout(), pool.checkedin(), server_connections(admin, tag)) == (0, 3, 3)
    dispatcher = outage_reply(factory, "SELECT pg_sleep(5)")
    assert dispatcher.messages[0]["response"] == "utter_service_unavailable"
    assert backend._factory is None
    # The old pool: nothing checked out, nothing kept; the server holds none of its connections.
    assert (pool.checkedout(), pool.checkedin()) == (0, 0)
    assert wait_for(lambda: server_connections(admin, tag) == 0)


def test_a_reset_after_the_database_was_cut_away_keeps_no_connection(admin, monkeypatch):
    """The database unreachable (the production layer's fault): the session that failed gave its connection back,
    and the reset drops every idle one, so no pool is left behind per outage (three outages in a row)."""
    url = admin.url
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    tag = "pool-" + uuid.uuid4().hex[:8]
    try:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        pools = []
        for _ in range(3):
            engine, factory = pooled_backend(through_proxy, tag, monkeypatch)
            pools.append(engine.pool)
            proxy.cut()
            outage_reply(factory)
            proxy.restore()
            assert backend._factory is None
        assert [(p.checkedout(), p.checkedin()) for p in pools] == [(0, 0)] * 3
        assert wait_for(lambda: server_connections(admin, tag) == 0)
    finally:
        proxy.stop()
