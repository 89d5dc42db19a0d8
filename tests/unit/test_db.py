"""priorauth/db.py and the action server's handle on it (actions/backend.py)."""

from __future__ import annotations

from priorauth.db import make_engine


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
