"""Command line: check, load and measure the knowledge base (`python -m priorauth --help`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from priorauth.config import PROJECT_ROOT, Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="priorauth", description=__doc__)
    parser.add_argument("--kb-dir", type=Path, default=settings.kb_dir)
    parser.add_argument("--sources-dir", type=Path, default=PROJECT_ROOT / "data" / "sources")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate the knowledge-base data without loading it")
    load = sub.add_parser("load", help="validate and load the knowledge base into the database")
    load.add_argument("--database-url", default=settings.database_url)
    sub.add_parser("coverage", help="facts per source document and source paragraphs no record cites")
    args = parser.parse_args(argv)

    from priorauth.kb.reader import KBDataError, read_kb

    try:
        data = read_kb(args.kb_dir, args.sources_dir)
    except KBDataError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.command == "check":
        counts = {k: len(v) for k, v in sorted(data.sections.items())}
        print("knowledge base OK:", ", ".join(f"{k} {v}" for k, v in counts.items()))
        return 0
    if args.command == "load":
        from priorauth.db import create_all, make_engine
        from priorauth.kb.loader import load_kb

        engine = make_engine(args.database_url)
        changed = load_kb(engine, args.kb_dir, args.sources_dir)
        create_all(engine)
        print(f"knowledge base {'loaded' if changed else 'unchanged'} ({engine.url.render_as_string()})")
        return 0
    from priorauth.coverage import coverage

    report = coverage(data, args.sources_dir)
    for sid, row in report.items():
        print(
            f"{sid}: {row['records_citing']} records cite it; {len(row['uncited'])} of "
            f"{row['paragraphs']} paragraphs uncited"
        )
        for paragraph in row["uncited"]:
            print(f"    - {paragraph[:110]}")
    print(json.dumps({sid: {k: v for k, v in r.items() if k != "uncited"} for sid, r in report.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
