"""priorauth/db.py and the action server's handle on it (actions/backend.py)."""

from __future__ import annotations

from sqlalchemy import event, text

from priorauth.db import make_engine, make_session_factory


def test_the_action_servers_reset_closes_the_old_engines_pool(monkeypatch):
    # A database outage resets the backend; each reset must not leave a pool of connections behind.
    from actions import backend
    from priorauth.db import make_session_factory

    engine = make_engine("sqlite://")
    disposed = []
    monkeypatch.setattr(type(engine), "dispose", lambda self, *a, **k: disposed.append(self))
    monkeypatch.setattr(backend, "_factory", make_session_factory(engine))
    backend.reset()
    assert backend._factory is None and disposed == [engine]
    backend.reset()  # nothing to close the second time
    assert disposed == [engine]


def test_a_sqlite_file_keeps_its_connection_from_session_to_session(tmp_path):
    """A file database is pooled (SQLAlchemy 1.4 would open a connection per session); no lock is held between."""
    engine = make_engine(f"sqlite:///{tmp_path / 'pooled.db'}")
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    factory = make_session_factory(engine)
    for _ in range(3):
        with factory() as session:
            session.execute(text("SELECT 1"))
    other = make_engine(f"sqlite:///{tmp_path / 'pooled.db'}")
    with other.begin() as connection:  # a writer elsewhere is not blocked by the idle pooled connection
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    assert opened == [1]
    engine.dispose()
    other.dispose()
