"""One long-lived read session over the knowledge base, kept from turn to turn while its content is unchanged.

A turn's session used to start empty: every plan, program, rule and citation the answer touches was read again
(about 35 primary-key reads and 45 queries for a review question, 13 ms of CPU, most of it SQLAlchemy's own work).
The knowledge base changes only by a load, which changes its content hash (`priorauth.kb.loader`), so the rows a
turn loads stay true for the next turns: this session keeps them (a strong reference to each, since the identity map
holds weak ones) together with what `queries.once_per_session` has read, and checks the hash at the start of every
turn (one query). A changed hash, an error, or a session grown past `MAX_READS` starts a new session.

Between turns it holds no connection and no transaction (a commit ends each turn's; nothing is expired since the
factories are made with ``expire_on_commit=False``), so a database it reads is never kept "idle in transaction".
Reads only: a flush raises `ReadOnlyError` (and drops the session); the drafts keep their own short sessions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from priorauth.kb.queries import content_version, stored_content_hash

# Entries of `once_per_session`'s reads (and loaded rows) after which the session starts over: the knowledge base's
# rows are bounded, but reads keyed by what users type are not.
MAX_READS = 20_000


class KBReader:
    """Hands out the knowledge base's read session for one turn at a time (`with reader.session() as session`)."""

    def __init__(self, factory: sessionmaker):
        self.factory = factory
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._version: str | None = None
        self.sessions_started = 0  # tests and benchmarks: how often the kept rows were dropped

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._lock:
            session = self._current()
            try:
                yield session
                session.commit()  # ends the read transaction; the loaded rows stay loaded
            except BaseException:
                self._drop()
                raise
            if self._version is None:
                self._drop()  # a database loaded without a content hash: nothing is kept past the turn

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _current(self) -> Session:
        session = self._session
        if session is not None:
            version = stored_content_hash(session)
            if version is None or version != self._version or _size(session) > MAX_READS:
                self._drop()
                session = None
        if session is None:
            session = self._session = self.factory()
            self.sessions_started += 1
            kept = session.info["kb_rows"] = []
            event.listen(session, "loaded_as_persistent", lambda _s, row: kept.append(row))
            event.listen(session, "before_flush", _read_only)
            self._version = content_version(session)  # kept for the queries' once-per-content reads too
        return session

    def _drop(self) -> None:
        session, self._session, self._version = self._session, None, None
        if session is not None:
            session.close()


def _read_only(session: Session, _context, _instances) -> None:
    """A change to a kept row would outlive its turn (and a commit would write it to the knowledge base)."""
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyError("the knowledge base's read session does not write")


class ReadOnlyError(RuntimeError):
    pass


def _size(session: Session) -> int:
    return len(session.info.get("kb_reads", ())) + len(session.info.get("kb_rows", ()))
