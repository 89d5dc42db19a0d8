"""The production layer: one cluster (tests/production/cluster.py) for the whole session, and its figures.

Needs PostgreSQL and Redis from scripts/services.sh (PRIORAUTH_TEST_PG_URL, PRIORAUTH_TEST_REDIS_URL), nginx,
and a trained model. Without them the tests fail at once with the reason under CI or
PRIORAUTH_REQUIRE_PRODUCTION=1 (scripts/test_production.sh sets it), and skip locally (tests/required.py).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.production.cluster import FIGURES, NGINX, Cluster, add_figures
from tests.required import require_or_skip
from tests.servers import ROOT, find_model

SESSION_START = time.monotonic()


def _missing() -> str | None:
    if not os.environ.get("PRIORAUTH_TEST_PG_URL") or not os.environ.get("PRIORAUTH_TEST_REDIS_URL"):
        return "PRIORAUTH_TEST_PG_URL / PRIORAUTH_TEST_REDIS_URL not set (run scripts/services.sh start)"
    if not Path(NGINX).exists():
        return "nginx not installed (apt-get install nginx; scripts/services.sh installs it)"
    model = find_model()
    if model is None or not model.exists():
        return "no trained model (scripts/train.sh)"
    return None


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    reason = _missing()
    if reason:
        require_or_skip(reason)
    servers = Cluster(
        model=find_model(),
        workdir=tmp_path_factory.mktemp("cluster"),
        pg_admin_url=os.environ["PRIORAUTH_TEST_PG_URL"],
        redis_url=os.environ["PRIORAUTH_TEST_REDIS_URL"],
        debug_replica=os.environ.get("PRIORAUTH_PROD_DEBUG_REPLICA", "1") == "1",
    )
    try:
        servers.start()
    except Exception:
        servers.stop()
        raise
    yield servers
    servers.stop()


@pytest.fixture
def live(cluster):
    """The cluster with every process up and every connection restored (an earlier test may have cut one)."""
    cluster.ensure_running()
    return cluster


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FIGURES:
        return
    add_figures(session_seconds=round(time.monotonic() - SESSION_START, 1))
    out = ROOT / "results" / "production"
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures.json").write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n")
    terminalreporter.section("production figures")
    for key in sorted(FIGURES):
        terminalreporter.write_line(f"{key}: {FIGURES[key]}")
    terminalreporter.write_line(f"(written to {out / 'figures.json'})")
