"""The action server's one handle on the core: a lazily made engine and session factory.

Nothing is made at import; the first action that needs the database makes it, brings its schema to the
newest migration (idempotent; replicas starting together queue on a lock) and loads the knowledge base if
its content changed (an idempotent, hash-checked load).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from priorauth.config import Settings
from priorauth.db import make_engine, make_session_factory
from priorauth.kb.loader import load_kb
from priorauth.kb.reading import KBReader
from priorauth.schema import upgrade
from priorauth.selection import FactIndex, shared_index

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_factory: sessionmaker | None = None
_reader: KBReader | None = None


def session_factory() -> sessionmaker:
    global _factory
    if _factory is None:
        with _lock:
            if _factory is None:
                settings = Settings.from_env()
                engine = make_engine(settings.database_url)
                upgrade(engine)
                load_kb(engine, settings.kb_dir)
                _factory = make_session_factory(engine)
                logger.info("knowledge base ready (%s)", engine.url.get_backend_name())
    return _factory


@contextmanager
def kb_session() -> Iterator[Session]:
    """The knowledge base's read session for this turn: kept from turn to turn while the content is unchanged
    (priorauth.kb.reading), so a turn reads only what earlier turns have not."""
    global _reader
    factory = session_factory()
    reader = _reader
    if reader is None or reader.factory is not factory:
        with _lock:
            if _reader is None or _reader.factory is not factory:
                if _reader is not None:
                    _reader.close()
                _reader = KBReader(factory)
            reader = _reader
    with reader.session() as session:
        yield session


def fact_index() -> FactIndex:
    """The answer-selection index of the knowledge base's YAML, fitted once per process."""
    return shared_index(str(Settings.from_env().kb_dir))


def reset() -> None:
    """Forget the engine (tests; recovery after a database outage), closing its pool's connections so an outage
    does not leave one pool behind per recovery."""
    global _factory, _reader
    with _lock:
        factory, _factory = _factory, None
        reader, _reader = _reader, None
    if reader is not None:
        reader.close()
    engine = factory.kw.get("bind") if factory is not None else None
    if engine is not None:
        engine.dispose()
