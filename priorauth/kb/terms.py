"""Normalization of names, synonyms and abbreviations, shared by the alias table and the NLU matcher."""

from __future__ import annotations

import re


def normalize_term(text: str) -> str:
    text = text.lower().replace("’", "'").replace("–", "-").replace("—", "-")
    text = re.sub(r"[^a-z0-9/'.\- ]+", " ", text)
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # hyphenated words match spaced ones
    return re.sub(r"\s+", " ", text).strip(" .")
