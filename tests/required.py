"""The one rule for a service a test needs and cannot find (PostgreSQL, Redis, nginx, chromium, a model).

Under CI (``CI`` set to a true value) or when a run asks for every layer (``PRIORAUTH_REQUIRE_E2E=1``, set by
scripts/test.sh; ``PRIORAUTH_REQUIRE_PRODUCTION=1``, set by scripts/test_production.sh) the test fails at once
with the reason. A local run skips it, and pytest's summary (``-ra`` in pyproject) prints the reason.
"""

from __future__ import annotations

import os

import pytest

REQUIRING = ("CI", "PRIORAUTH_REQUIRE_E2E", "PRIORAUTH_REQUIRE_PRODUCTION")
FALSE_VALUES = {"", "0", "false", "no", "off"}


def services_required() -> bool:
    return any(os.environ.get(name, "").strip().lower() not in FALSE_VALUES for name in REQUIRING)


def require_or_skip(reason: str) -> None:
    """Fail (CI, a full run) or skip (a local run) because of ``reason``; never returns."""
    if services_required():
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def pg_url_or_skip() -> str:
    """The test PostgreSQL's URL (scripts/services.sh); without one, the rule above."""
    url = os.environ.get("PRIORAUTH_TEST_PG_URL")
    if not url:
        require_or_skip("PostgreSQL: PRIORAUTH_TEST_PG_URL not set (run scripts/services.sh start, source its env)")
    return url


def redis_url_or_skip() -> str:
    """The test Redis's URL (scripts/services.sh); without one, the rule above."""
    url = os.environ.get("PRIORAUTH_TEST_REDIS_URL")
    if not url:
        require_or_skip("Redis: PRIORAUTH_TEST_REDIS_URL not set (run scripts/services.sh start, source its env)")
    return url
