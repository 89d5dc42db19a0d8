"""Settings read from the environment in one place, with embedded defaults."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN_DIR = PROJECT_ROOT / ".run"
DEFAULT_KB_DIR = PROJECT_ROOT / "data" / "authorization"
DEFAULT_SOURCES_DIR = PROJECT_ROOT.parent / "shared" / "sources"


@dataclass(frozen=True)
class Settings:
    database_url: str
    kb_dir: Path
    sources_dir: Path

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        run_dir = Path(env.get("PRIORAUTH_RUN_DIR", DEFAULT_RUN_DIR))
        return cls(
            database_url=env.get("PRIORAUTH_DATABASE_URL", f"sqlite:///{run_dir / 'priorauth.db'}"),
            kb_dir=Path(env.get("PRIORAUTH_KB_DIR", DEFAULT_KB_DIR)),
            sources_dir=Path(env.get("PRIORAUTH_SOURCES_DIR", DEFAULT_SOURCES_DIR)),
        )


def env_number(name: str, default: float, environ: dict[str, str] | None = None) -> float:
    """A number from the environment; unset or blank gives ``default``, and so does a typo (with a warning)."""
    value = (os.environ if environ is None else environ).get(name, "")
    try:
        return float(value) if value.strip() else default
    except ValueError:
        logging.getLogger(__name__).warning("%s=%r is not a number; using %s", name, value, default)
        return default
