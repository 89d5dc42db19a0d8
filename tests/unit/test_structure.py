"""The rings of the code, read from its imports: nothing under `priorauth/` imports Rasa, and no two modules of
the project import each other (directly or round a longer loop), at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("priorauth", "actions", "addons")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules a file imports (``from a.b import c`` counts a.b.c when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {name for name in names if name in modules}
    own_package = module_name(path)
    return found - {own_package}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import loop, found by a depth-first walk (each loop once, from its first module met)."""
    loops, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                loops.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                walk(target, [*stack, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return loops


def test_the_cycle_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_project():
    modules = project_modules()
    # A package's __init__ importing its own submodules is not a loop of concerns: only module-to-module edges.
    graph = {
        name: {t for t in imports_of(path, modules) if not name.startswith(t + ".")} for name, path in modules.items()
    }
    assert cycles(graph) == []


def test_the_core_imports_no_rasa():
    rasa_users = [
        name
        for name, path in project_modules().items()
        if name.startswith("priorauth")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(
            n.split(".")[0] in ("rasa", "rasa_sdk")
            for n in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
        )
    ]
    assert rasa_users == []


def test_the_action_server_loads_neither_spacy_nor_tensorflow():
    """The actions need spaCy's stop-word list only (priorauth.nlu.cues reads it from its file): importing spaCy
    would bring in TensorFlow through thinc, about 400 MB and 3 s more for every action server."""
    import subprocess
    import sys

    code = (
        "import sys, actions.answer, actions.drafts, actions.draft_form, actions.fallback; "
        "print(sorted(m for m in ('spacy', 'thinc', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_cues_stop_words_are_spacys():
    from spacy.lang.en.stop_words import STOP_WORDS

    from priorauth.nlu import cues

    assert cues.STOP_WORDS == STOP_WORDS and len(STOP_WORDS) > 300
