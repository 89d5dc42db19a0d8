"""Prints intent accuracy, macro F1 and entity F1 from a `rasa test nlu` results folder, and gates on them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", type=Path)
    parser.add_argument("--min-intent-accuracy", type=float, default=0.0)
    args = parser.parse_args()
    intents = json.loads((args.results / "intent_report.json").read_text())
    accuracy, macro = intents["accuracy"], intents["macro avg"]["f1-score"]
    line = f"held-out NLU: intent accuracy {accuracy:.3f}, intent macro F1 {macro:.3f}"
    entity_file = next(iter(args.results.glob("*EntityExtractor_report.json")), None)
    if entity_file:
        entities = json.loads(entity_file.read_text())
        overall = entities.get("micro avg", entities.get("weighted avg", {}))
        line += f", entity F1 (micro) {overall.get('f1-score', 0):.3f}"
    print(line)
    worst = sorted(
        (
            (v["f1-score"], k)
            for k, v in intents.items()
            if isinstance(v, dict) and "support" in v and k not in ("macro avg", "weighted avg", "micro avg")
        )
    )[:5]
    print("weakest intents:", ", ".join(f"{k} {f:.2f}" for f, k in worst))
    errors = args.results / "intent_errors.json"
    if errors.exists():
        for e in json.loads(errors.read_text())[:15]:
            print(f"  {e['intent']:>24} <- {e['intent_prediction']['name']:<24} {e['text'][:70]!r}")
    if accuracy < args.min_intent_accuracy:
        print(f"intent accuracy {accuracy:.3f} is below the gate {args.min_intent_accuracy}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
