"""The one list of settings (site of care / place of service) and their synonyms: data/authorization/settings.yml.

Read by the knowledge base, the entity matcher (through the vocabulary), the draft validators and the FHIR
export alike, so that a synonym added to the data is understood everywhere.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "data" / "authorization" / "settings.yml"


@lru_cache(maxsize=4)
def _records(path: Path = SETTINGS_FILE) -> tuple[dict, ...]:
    return tuple(yaml.safe_load(Path(path).read_text(encoding="utf-8"))["settings"])


def fold(text: str) -> str:
    """Lower case, punctuation dropped, hyphens/slashes/underscores as spaces: "Doctor's office" -> "doctors office"."""
    text = re.sub(r"[^a-z0-9 ]", "", re.sub(r"[_\-/]", " ", str(text or "").lower()))
    return " ".join(text.split())


def requestable_settings(path: Path = SETTINGS_FILE) -> tuple[str, ...]:
    """Settings a pre-service request can name, in the data's order (the emergency room is not one)."""
    return tuple(r["id"] for r in _records(path) if r.get("requestable", True))


def setting_synonyms(path: Path = SETTINGS_FILE, requestable_only: bool = True) -> dict[str, str]:
    """Folded name, synonym and place-of-service code -> setting id."""
    out: dict[str, str] = {}
    for r in _records(path):
        if requestable_only and not r.get("requestable", True):
            continue
        for term in [r["name"], *r["synonyms"], str(r["pos"])]:
            out.setdefault(fold(term), r["id"])
    return out


def place_of_service(path: Path = SETTINGS_FILE) -> dict[str, tuple[str, str]]:
    """Setting id -> (CMS place-of-service code, its display name)."""
    return {r["id"]: (str(r["pos"]), r.get("pos_name") or r["name"]) for r in _records(path)}
