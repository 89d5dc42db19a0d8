"""End-to-end fixtures: one trained model, both servers on free ports for the whole session."""

from __future__ import annotations

import pytest

from tests.required import require_or_skip
from tests.servers import Assistant, find_model


def _model_or_skip():
    model = find_model()
    if model is None or not model.exists():
        message = "no trained model: run scripts/train.sh (scripts/test.sh trains one and sets PRIORAUTH_MODEL)"
        require_or_skip(message)
    return model


@pytest.fixture(scope="session")
def assistant(tmp_path_factory):
    servers = Assistant(model=_model_or_skip(), workdir=tmp_path_factory.mktemp("assistant"))
    try:
        servers.start()
    except Exception:
        servers.stop()  # a server that started while the other did not must not outlive the run
        raise
    yield servers
    servers.stop()
