"""Who may act as a contact-center agent: the agent channel's token and its signature on a message.

Rasa-free, so that both the Rasa server's agent channel and the action server (which has no Rasa in
production) use the same check.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TOKEN_ENV = "PRIORAUTH_AGENT_TOKEN"
TOKEN_FILE = "agent-token"


def agent_token(environ: dict | None = None, create: bool = True) -> str | None:
    """The token the panel must present: the environment's, else a local run's generated one, else none."""
    environ = os.environ if environ is None else environ
    if environ.get(TOKEN_ENV):
        return environ[TOKEN_ENV]
    run_dir = environ.get("PRIORAUTH_RUN_DIR")
    if not run_dir:
        return None
    path = Path(run_dir) / TOKEN_FILE
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 in one step: the token is never readable by others, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
        logger.warning("%s is not set: the agent panel's token for this local run is in %s", TOKEN_ENV, path)
    return path.read_text(encoding="utf-8").strip()


def agent_signature(token: str, sender: str, agent_id: str) -> str:
    """Proof, in the message's metadata, that the agent channel (holder of the token) vouches for the agent id.

    Any channel's client can put `agent_id` in its metadata (REST and socket.io pass metadata through);
    whatever grants an agent's rights checks this signature first.
    """
    return hmac.new(token.encode(), f"{sender}\n{agent_id}".encode(), hashlib.sha256).hexdigest()


def agent_vouched(sender: str, agent_id: str, signature: Any, environ: dict | None = None) -> bool:
    """Whether the agent channel signed this agent id for this sender."""
    token = agent_token(environ, create=False)
    if not token or not isinstance(signature, str):
        return False
    return hmac.compare_digest(signature.encode(), agent_signature(token, sender, agent_id).encode())
