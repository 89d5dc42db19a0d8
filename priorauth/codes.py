"""The grammar of the codes the assistant reads (CPT, HCPCS Level II, ICD-10-CM): one definition for the knowledge
base's reader, the NLU matcher and the draft validators.

- CPT: 5 digits (Category I), or 4 digits and F (Category II), T (Category III), U (proprietary laboratory
  analyses) or M (multianalyte assays with algorithmic analyses).
- HCPCS Level II: a letter and 4 digits, the letter one of the sections CMS uses (A-E, G, H, J-M, P-V); F, I, N, O,
  W, X, Y and Z begin no HCPCS code.
- ICD-10-CM: a letter, a digit and a letter or digit (the category), then up to 4 letters or digits after a dot.
  U has codes too since 2020 (U07.1 COVID-19). Written with or without the dot; normalized with it.
"""

from __future__ import annotations

import re

CPT = r"\d{5}|\d{4}[FMTU]"
HCPCS = r"[A-EGHJ-MP-V]\d{4}"
PROCEDURE = rf"{CPT}|{HCPCS}"
ICD10CM_CATEGORY = r"[A-Z]\d[A-Z0-9]"
ICD10CM_EXTENSION = r"[A-Z0-9]{1,4}"

_CPT = re.compile(CPT)
_HCPCS = re.compile(HCPCS)
_ICD10CM = re.compile(rf"({ICD10CM_CATEGORY})(?:\.?({ICD10CM_EXTENSION}))?")

# Names of the code systems, as the knowledge base stores them (ProcedureCode.system).
CPT_SYSTEM, HCPCS_SYSTEM, ICD10CM_SYSTEM = "CPT", "HCPCS", "ICD-10-CM"


def kind_of(code: str) -> str | None:
    """The code system a code is written in ("CPT", "HCPCS" or "ICD-10-CM"), or None for none of them.

    A letter and 4 digits is both an HCPCS code and an ICD-10-CM code without its dot (G0260 and G02.60): it is read
    as HCPCS here; a reader that expects a diagnosis asks ``normalize_icd10cm``.
    """
    text = str(code or "").strip().upper()
    if _CPT.fullmatch(text):
        return CPT_SYSTEM
    if _HCPCS.fullmatch(text):
        return HCPCS_SYSTEM
    if _ICD10CM.fullmatch(text):
        return ICD10CM_SYSTEM
    return None


def is_procedure_code(code: str) -> bool:
    """Whether a code is a CPT or HCPCS Level II code (upper case or not)."""
    return kind_of(code) in (CPT_SYSTEM, HCPCS_SYSTEM)


def normalize_icd10cm(code: str) -> str | None:
    """An ICD-10-CM code upper-cased with its dot (g8918 -> G89.18, R51 -> R51), or None if malformed."""
    match = _ICD10CM.fullmatch(str(code or "").strip().upper())
    if not match:
        return None
    category, extension = match.groups()
    return f"{category}.{extension}" if extension else category


def normalize(code: str) -> str | None:
    """A code in the form the knowledge base stores it (upper case; ICD-10-CM with its dot), or None if malformed.

    A letter and 4 digits stays as written (HCPCS; see ``kind_of``).
    """
    kind = kind_of(code)
    if kind is None:
        return None
    text = str(code).strip().upper()
    return normalize_icd10cm(text) if kind == ICD10CM_SYSTEM else text
