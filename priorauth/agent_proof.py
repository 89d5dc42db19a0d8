"""The agent channel's proof to the action server that it relayed a message for a verified agent.

Stdlib only: the action server (no Rasa, no PyJWT in its image) checks what the Rasa server's agent channel
signed. REST and socket.io clients can put any `agent_id` in a message's metadata; only the holder of the
channel secret (`PRIORAUTH_AGENT_CHANNEL_SECRET`, or a local run's generated file) can sign it, and the proof
binds the agent id to the conversation and to the one message Rasa created with the channel's message id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CHANNEL_SECRET_ENV = "PRIORAUTH_AGENT_CHANNEL_SECRET"
CHANNEL_SECRET_FILE = "agent-channel-secret"
ENVIRONMENT_ENV = "PRIORAUTH_ENV"
# What says a deployment is production: the explicit PRIORAUTH_ENV=production, or the shared stores that
# scripts/run.sh (PRIORAUTH_TRACKER_URL, PRIORAUTH_REDIS_URL) and deploy/ (DB_HOST, REDIS_HOST) configure.
PRODUCTION_MARKERS = ("PRIORAUTH_TRACKER_URL", "PRIORAUTH_REDIS_URL", "DB_HOST", "REDIS_HOST")
PROOF_VERSION = "priorauth-agent-proof-v1"
MIN_SECRET_CHARS = 32
_SEPARATORS = re.compile(r"[\s,]+")


class AgentAuthConfigError(RuntimeError):
    """The deployment's agent-identity configuration is missing or wrong: the agent channel must not start."""


def is_production(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    if environ.get(ENVIRONMENT_ENV, "").strip().lower() == "production":
        return True
    return any(environ.get(name) for name in PRODUCTION_MARKERS)


def run_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where a local run keeps its generated keys: $PRIORAUTH_RUN_DIR, else the project's .run/."""
    environ = os.environ if environ is None else environ
    if environ.get("PRIORAUTH_RUN_DIR"):
        return Path(environ["PRIORAUTH_RUN_DIR"])
    from priorauth.config import DEFAULT_RUN_DIR

    return DEFAULT_RUN_DIR


def split_secrets(value: str | None, name: str) -> list[str]:
    """One or more secrets, separated by spaces or commas; the first signs, all verify (key rotation)."""
    values = [v for v in _SEPARATORS.split(value or "") if v]
    for value in values:
        if len(value) < MIN_SECRET_CHARS:
            raise AgentAuthConfigError(
                f"{name}: each secret must be at least {MIN_SECRET_CHARS} characters (openssl rand -hex 32); "
                f"one has {len(value)}"
            )
    return values


def local_secret(directory: Path, filename: str) -> str:
    """A local run's random secret in `directory/filename`, created 0600 and complete in one step.

    The file is written under a temporary name and linked into place, so a concurrent reader (the Rasa
    server and the action server start together) sees either no file or the whole secret, never part of it.
    """
    path = directory / filename
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{filename}.")  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
            os.link(temporary, path)
            logger.warning("no key configured: this local run's %s is in %s", filename, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            os.unlink(temporary)
    return path.read_text(encoding="utf-8").strip()


def channel_secrets(environ: Mapping[str, str] | None = None, create: bool = True) -> list[str]:
    """The secrets of the channel's proof: the environment's, else (not in production) a local run's file."""
    environ = os.environ if environ is None else environ
    configured = split_secrets(environ.get(CHANNEL_SECRET_ENV), CHANNEL_SECRET_ENV)
    if configured:
        return configured
    if is_production(environ):
        return []
    directory = run_dir(environ)
    if not create and not (directory / CHANNEL_SECRET_FILE).exists():
        return []
    return [local_secret(directory, CHANNEL_SECRET_FILE)]


def sign_proof(secret: str, sender: str, agent_id: str, message_id: str) -> str:
    message = f"{PROOF_VERSION}\n{sender}\n{agent_id}\n{message_id}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def agent_vouched(
    sender: str, agent_id: str, message_id: Any, proof: Any, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether the agent channel signed this agent id for this conversation and this message."""
    if not isinstance(proof, str) or not isinstance(message_id, str) or not message_id:
        return False
    if not sender.startswith(f"agent:{agent_id}:"):
        return False
    keys = channel_secrets(environ, create=False)
    if not keys:
        logger.warning("an agent message cannot be checked: the action server has no %s", CHANNEL_SECRET_ENV)
        return False
    return any(
        hmac.compare_digest(proof.encode(), sign_proof(key, sender, agent_id, message_id).encode()) for key in keys
    )
