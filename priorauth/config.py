"""Settings read from the environment in one place, with embedded defaults."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN_DIR = PROJECT_ROOT / ".run"
DEFAULT_KB_DIR = PROJECT_ROOT / "data" / "authorization"
DEFAULT_SOURCES_DIR = PROJECT_ROOT.parent / "shared" / "sources"
# The payer a draft's PAS export names as the insurer (Claim.insurer, Coverage.payor).
DEFAULT_INSURER_NAME = "Anthem (via AIM Specialty Health)"
# Where the users are: "today" for a date of service is their day, not UTC's.
DEFAULT_TIME_ZONE = "America/New_York"


@dataclass(frozen=True)
class Settings:
    database_url: str
    kb_dir: Path
    sources_dir: Path
    insurer_name: str = DEFAULT_INSURER_NAME
    time_zone: str = DEFAULT_TIME_ZONE

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        run_dir = Path(env.get("PRIORAUTH_RUN_DIR", DEFAULT_RUN_DIR))
        return cls(
            database_url=env.get("PRIORAUTH_DATABASE_URL", f"sqlite:///{run_dir / 'priorauth.db'}"),
            kb_dir=Path(env.get("PRIORAUTH_KB_DIR", DEFAULT_KB_DIR)),
            sources_dir=Path(env.get("PRIORAUTH_SOURCES_DIR", DEFAULT_SOURCES_DIR)),
            insurer_name=env.get("PRIORAUTH_INSURER_NAME") or DEFAULT_INSURER_NAME,
            time_zone=env.get("PRIORAUTH_TIME_ZONE") or DEFAULT_TIME_ZONE,
        )

    @property
    def zone(self) -> ZoneInfo:
        """The users' time zone (an unknown name raises ZoneInfoNotFoundError naming it)."""
        return ZoneInfo(self.time_zone)


def env_number(name: str, default: float, environ: dict[str, str] | None = None) -> float:
    """A number from the environment; unset or blank gives ``default``, and so does a typo (with a warning)."""
    value = (os.environ if environ is None else environ).get(name, "")
    try:
        return float(value) if value.strip() else default
    except ValueError:
        logging.getLogger(__name__).warning("%s=%r is not a number; using %s", name, value, default)
        return default
