"""Command line: check, load and measure the knowledge base; export a draft; mint an agent token (`--help`)."""

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
    load = sub.add_parser(
        "load", help="bring the database's schema to the newest migration, then validate and load the knowledge base"
    )
    load.add_argument("--database-url", default=settings.database_url)
    sub.add_parser("coverage", help="facts per source document and source paragraphs no record cites")
    export = sub.add_parser("export", help="print a ready draft request as a FHIR PAS-shaped Bundle (JSON)")
    export.add_argument("reference", help="the draft's reference, e.g. DR-7K3Q9P")
    export.add_argument("--owner", required=True, help="the draft's owner: a conversation's sender id or agent:<id>")
    export.add_argument("--database-url", default=settings.database_url)
    token = sub.add_parser(
        "agent-token",
        help="print a short-lived sign-in token for the agent side panel, signed with this run's key",
        description="Signs with PRIORAUTH_AGENT_JWT_SECRET's first secret if set, else with the local run's "
        "generated key ($PRIORAUTH_RUN_DIR/agent-jwt-secret, made 0600 on first use).",
    )
    token.add_argument("agent_id", help="the agent's id: the token's subject (letters, digits, '.', '_', '@', '-')")
    token.add_argument("--minutes", type=int, default=60, help="lifetime in minutes (default 60)")
    args = parser.parse_args(argv)
    if args.command == "export":
        return export_draft(args.reference, args.owner, args.database_url)
    if args.command == "agent-token":
        return agent_token(args.agent_id, args.minutes)

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
        from priorauth.db import make_engine
        from priorauth.kb.loader import load_kb
        from priorauth.schema import upgrade

        engine = make_engine(args.database_url)
        upgrade(engine)
        changed = load_kb(engine, args.kb_dir, args.sources_dir)
        engine.dispose()
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
        for paragraph, reason in row["deliberately_uncovered"]:
            print(f"    ~ deliberately uncovered: {paragraph[:70]} ({reason})")
    skip = {"uncited", "deliberately_uncovered"}
    print(json.dumps({sid: {k: v for k, v in r.items() if k not in skip} for sid, r in report.items()}))
    return 0


def agent_token(agent_id: str, minutes: int) -> int:
    """Print a token for `agent_id`; a production deployment with only an identity provider's keys refuses."""
    from priorauth.agent_auth import AgentAuth
    from priorauth.agent_proof import AgentAuthConfigError

    try:
        print(AgentAuth.from_env().mint(agent_id, minutes))
        return 0
    except (AgentAuthConfigError, ValueError) as exc:
        print(f"agent-token: {exc}", file=sys.stderr)
        return 2


def export_draft(reference: str, owner: str, database_url: str) -> int:
    """Print the draft's PAS bundle; a missing, foreign or incomplete draft is an error on stderr."""
    from sqlalchemy.exc import SQLAlchemyError

    from priorauth.db import make_engine, make_session_factory
    from priorauth.drafts.export import DraftNotReady, to_pas_bundle
    from priorauth.drafts.repository import DraftError, DraftRepository

    engine = make_engine(database_url)
    try:
        draft = DraftRepository(make_session_factory(engine)).get(reference, owner)
        print(json.dumps(to_pas_bundle(draft), indent=2))
        return 0
    except (DraftError, DraftNotReady) as exc:
        print(exc, file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"cannot read drafts from {engine.url.render_as_string()}: {type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
