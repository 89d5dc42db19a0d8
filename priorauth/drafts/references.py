"""Draft references: how they are made ("DR-7K3Q9P") and how they are read back from what people type.

Rasa-free and small on purpose: the NLU tokenizer reads references with the same grammar as the actions.
"""

from __future__ import annotations

import re
import secrets

# No 0/O, 1/I/L: a reference is read aloud and typed back.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6


def new_reference() -> str:
    """A random human-readable reference such as DR-7K3Q9P."""
    return "DR-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


# A reference as people type it back: "DR-7K3Q9P", "dr 7k3q9p", "DR7K3Q9P" (not "Dr Parker": see reference_spans).
REFERENCE_IN_TEXT = re.compile(rf"\bDR(-|\s?)([{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}})\b", re.IGNORECASE)


def reference_spans(text: str | None) -> list[tuple[int, int, str]]:
    """Each draft reference in a message: (start, end, normalized reference)."""
    spans = []
    for match in REFERENCE_IN_TEXT.finditer(text or ""):
        separator, code = match.groups()
        # "Dr Parker", "DR PARKER" are names: a reference without its hyphen needs a digit to be one.
        if separator == "-" or any(c.isdigit() for c in code):
            spans.append((match.start(), match.end(), normalize_reference(code)))
    return spans


def reference_in(text: str | None) -> str | None:
    """The first draft reference typed in a message ("show DR-7K3Q9P"), normalized."""
    spans = reference_spans(text)
    return spans[0][2] if spans else None


def normalize_reference(reference: str) -> str:
    """Accept what people type back: "dr-7k3q9p", "DR 7K3Q9P", "7K3Q9P"."""
    text = "".join(str(reference).split()).upper().replace("DR-", "", 1)
    if len(text) == REFERENCE_LENGTH + 2 and text.startswith("DR"):
        text = text[2:]
    return "DR-" + text
