"""Every table of priorauth on one metadata: the knowledge base's and the drafts'.

Imported by the migrations' environment and by the schema checks; nothing imports it back.
"""

from __future__ import annotations

from priorauth.db import Base
from priorauth.drafts import models as drafts
from priorauth.kb import models as kb

metadata = Base.metadata
DRAFT_TABLES = (drafts.Draft.__tablename__, drafts.DraftEvent.__tablename__)
KB_TABLES = tuple(model.__tablename__ for model in kb.KB_TABLES)
