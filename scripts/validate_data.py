"""Runs `rasa data validate` and fails on every warning that matters.

Allowed: responses that no story uses but a custom action sends (found by reading actions/ and the draft
conversation's core, which chooses the draft's responses), and the `utter_ask_<slot>` responses a form asks with.
Anything else (unused intents, unknown slots or responses, conflicts) fails the run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def responses_sent_by_actions() -> set[str]:
    found = set()
    for path in [*(ROOT / "actions").glob("*.py"), *(ROOT / "priorauth" / "drafts").glob("*.py")]:
        found |= set(re.findall(r"\butter_\w+", path.read_text()))
    forms = (yaml.safe_load((ROOT / "domain.yml").read_text()) or {}).get("forms") or {}
    for form in forms.values():
        found |= {f"utter_ask_{slot}" for slot in form.get("required_slots") or []}
    return found


def main() -> int:
    command = [
        str(Path(sys.executable).parent / "rasa"),
        "data",
        "validate",
        "--data",
        "data/nlu",
        "data/rules",
        "data/stories",
        "--domain",
        "domain.yml",
        "--config",
        "config.yml",
        "--fail-on-warnings",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    output = result.stdout + result.stderr
    warnings = re.findall(r"UserWarning: (.+)", output)
    allowed = responses_sent_by_actions()
    problems = []
    for warning in warnings:
        match = re.match(r"The utterance '(\w+)' is not used in any story or rule", warning)
        if match and match.group(1) in allowed:
            continue
        problems.append(warning)
    errors = [line for line in output.splitlines() if " ERROR " in line]
    for line in problems + errors:
        print(f"validate: {line}")
    if problems or errors or ("conflict" in output.lower() and "No story structure conflicts" not in output):
        print(f"rasa data validate: {len(problems)} warnings that matter, {len(errors)} errors")
        return 1
    print(f"rasa data validate: clean ({len(warnings)} allowed warnings: responses sent by custom actions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
