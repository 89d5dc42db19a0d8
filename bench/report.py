"""Prints the figures of bench/out/results.json as tables and draws the charts (matplotlib, Agg)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator  # noqa: E402

LATENCY_TICKS = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]


def _growth_rest_rows(g: dict) -> list[list]:
    """REST p50 / p95 per round (and CPU ms a turn, Rasa + actions, where measured); the median round at 1."""
    rows = []
    for x1, x10 in zip(g["rest"]["1x"], g["rest"]["10x"], strict=True):
        rows.append(
            [f"REST p50 / p95 at {x1['concurrency']} concurrent (ms)"]
            + [f"{x['p50_ms']} / {x['p95_ms']}" + _cpu_note(x) for x in (x1, x10)]
        )
    median = g.get("rest_p50_at_1_median_ms")
    if median:
        rows.append(["REST p50 at 1 concurrent, median round (ms)", median["1x"], median["10x"]])
    return rows


def _cpu_note(run: dict) -> str:
    cpu = run.get("cpu_ms_per_turn") or {}
    return f" (CPU {cpu.get('rasa')} + {cpu.get('actions')})" if cpu else ""


def _table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[str("" if c is None else c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print(
            "  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _pct(x) -> str:
    return "" if x is None else f"{x:.0%}"


def _tag(part: dict) -> str:
    return f" [{'quick' if part['quick'] else 'full'} run, {part['finished']}]"


def print_tables(results: dict) -> None:
    parts = results.get("parts", {})
    if "quality" in parts:
        q, tag = parts["quality"]["figures"], _tag(parts["quality"])
        rows = [[topic, t["n"], _pct(t["assistant"]), _pct(t["bm25"])] for topic, t in q["by_topic"].items()]
        rows.append(["ALL", q["n_questions"], _pct(q["assistant_accuracy"]), _pct(q["bm25_accuracy"])])
        _table(
            "Answer quality: share of answers with every required fact and no wrong one" + tag,
            ["topic", "questions", "assistant", "BM25 paragraph"],
            rows,
        )
    if "nlu" in parts:
        n, tag = parts["nlu"]["figures"], _tag(parts["nlu"])
        cv = n["cross_validation"]
        rows = [
            [f"intent accuracy ({cv['folds']}-fold CV, {cv['examples']} examples)", cv["intent_accuracy"]],
            ["intent macro F1 (CV)", cv["intent_macro_f1"]],
            [f"entity F1 (KB matcher, {n['entities']['questions']} labelled questions)", n["entities"]["micro"]["f1"]],
        ]
        if n.get("question_set"):
            rows.append(
                [
                    f"intent accuracy on the question set ({n['question_set']['questions']})",
                    n["question_set"]["intent_accuracy"],
                ]
            )
        _table("NLU" + tag, ["metric", "value"], rows)
        _table(
            "Worst confusion pairs (CV)",
            ["intent", "predicted as", "count"],
            [[c["intent"], c["predicted"], c["count"]] for c in cv["worst_confusions"][:6]],
        )
    if "latency" in parts:
        lat, tag = parts["latency"]["figures"], _tag(parts["latency"])
        rows = []
        for ours, floor, ratio in zip(lat["assistant"], lat["floor"], lat["ratio_to_floor"], strict=True):
            rows.append(
                [
                    ours["concurrency"],
                    ours["p50_ms"],
                    ours["p95_ms"],
                    ours["p99_ms"],
                    ours["turns_per_second"],
                    ours["errors"],
                    floor["p50_ms"],
                    floor["p95_ms"],
                    floor["turns_per_second"],
                    ratio["p50_ratio"],
                    ratio["p95_ratio"],
                ]
            )
        _table(
            "REST latency per turn (ms) and throughput" + tag,
            [
                "concurrent",
                "p50",
                "p95",
                "p99",
                "turns/s",
                "errors",
                "floor p50",
                "floor p95",
                "floor turns/s",
                "p50 x floor",
                "p95 x floor",
            ],
            rows,
        )
    if "growth" in parts:
        g, tag = parts["growth"]["figures"], _tag(parts["growth"])
        a, b = g["in_process"]["1x"], g["in_process"]["10x"]
        rows = [
            [
                "procedures / codes",
                f"{g['knowledge_base']['real_procedures']} / {g['knowledge_base']['real_codes']}",
                f"{g['knowledge_base']['procedures']} / {g['knowledge_base']['codes']}",
            ],
            ["matcher terms", a["terms"], b["terms"]],
            [
                "KBMatcher.extract mean / p95 (us)",
                f"{a['extract']['mean_us']} / {a['extract']['p95_us']}",
                f"{b['extract']['mean_us']} / {b['extract']['p95_us']}",
            ],
            ["KBMatcher.extract CPU, least alternating round (us)", a.get("extract_cpu_us"), b.get("extract_cpu_us")],
        ]
        for phase in ("phrase_matchers", "fuzzy"):
            if a.get("extract_phases"):
                rows.append(
                    [
                        f"  of which {phase.replace('_', ' ')} (us)",
                        a["extract_phases"][phase],
                        b["extract_phases"][phase],
                    ]
                )
        rows += [
            [
                "review_requirement mean / p95 (us)",
                f"{a['review_requirement']['mean_us']} / {a['review_requirement']['p95_us']}",
                f"{b['review_requirement']['mean_us']} / {b['review_requirement']['p95_us']}",
            ],
            ["knowledge-base load (s)", a["load_seconds"], b["load_seconds"]],
            ["training (s)", g["training_seconds"]["1x"], g["training_seconds"]["10x"]],
        ]
        rows += _growth_rest_rows(g)
        _table("Cost of growth: knowledge base 1x vs 10x" + tag, ["", "1x", "10x"], rows)
        print(
            f"  same entities on {g['in_process']['same_entities']} texts; same review status on "
            f"{g['in_process']['same_review_status']} requests; lookups: "
            + "; ".join(f"{k}: {v}" for k, v in b["query_plans"].items())
        )
    if "resources" in parts:
        r, tag = parts["resources"]["figures"], _tag(parts["resources"])
        rows = [[f"training time, {k} (s)", v["seconds"]] for k, v in r["training"].items()]
        rows += [[f"model size, {k} (MB)", v["size_mb"]] for k, v in r["training"].items()]
        for name, ready in r["start_to_ready_seconds"].items():
            for server, seconds in ready.items():
                rows.append([f"start to ready, {name} {server} server (s)", seconds])
        for when, per_system in r["rss_mb"].items():
            for name, servers in per_system.items():
                for server, mb in servers.items():
                    rows.append([f"RSS {when.replace('_', ' ')}, {name} {server} server (MB)", mb])
        _table("Resources" + tag, ["", "value"], rows)


def draw_charts(results: dict, out_dir: Path) -> list[Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib 3.5 on a newer pyparsing warns about deprecated names
        return _draw_charts(results, out_dir)


def _draw_charts(results: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = results.get("parts", {})
    written = []
    machine = (results.get("last_run") or {}).get("machine", {})
    note = f"{machine.get('cores', '?')} shared cores, measured while other work ran"
    if "latency" in parts:
        lat = parts["latency"]["figures"]
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
        for name, color in (("assistant", "tab:blue"), ("floor", "tab:gray")):
            runs = lat[name]
            levels = [r["concurrency"] for r in runs]
            ax.plot(levels, [r["p50_ms"] for r in runs], "o-", color=color, label=f"{name} p50")
            ax.plot(levels, [r["p95_ms"] for r in runs], "s--", color=color, label=f"{name} p95")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(levels)
        ax.set_xticklabels([str(x) for x in levels])
        ax.xaxis.set_minor_locator(NullLocator())
        values = [r[k] for name in ("assistant", "floor") for r in lat[name] for k in ("p50_ms", "p95_ms")]
        ticks = [t for t in LATENCY_TICKS if min(values) / 2 <= t <= max(values) * 2]
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.set_yticklabels([str(t) for t in ticks])
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("concurrent conversations")
        ax.set_ylabel("ms per turn (log)")
        ax.set_title("REST latency per turn")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
        width = 0.38
        xs = range(len(levels))
        bx.bar(
            [x - width / 2 for x in xs],
            [r["turns_per_second"] for r in lat["assistant"]],
            width,
            color="tab:blue",
            label="assistant",
        )
        bx.bar(
            [x + width / 2 for x in xs],
            [r["turns_per_second"] for r in lat["floor"]],
            width,
            color="tab:gray",
            label="framework floor",
        )
        bx.set_xticks(list(xs))
        bx.set_xticklabels([str(x) for x in levels])
        bx.set_xlabel("concurrent conversations")
        bx.set_ylabel("turns per second")
        bx.set_title("Throughput")
        bx.legend(fontsize=8)
        fig.suptitle(f"Latency and throughput vs concurrency ({note})", fontsize=10)
        fig.tight_layout()
        path = out_dir / "latency_vs_concurrency.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    if "quality" in parts:
        q = parts["quality"]["figures"]
        topics = list(q["by_topic"])[::-1]
        fig, ax = plt.subplots(figsize=(8, 7), dpi=100)
        ys = range(len(topics))
        h = 0.4
        ax.barh(
            [y + h / 2 for y in ys],
            [q["by_topic"][t]["assistant"] * 100 for t in topics],
            h,
            color="tab:blue",
            label=f"assistant ({q['assistant_accuracy']:.0%} overall)",
        )
        ax.barh(
            [y - h / 2 for y in ys],
            [q["by_topic"][t]["bm25"] * 100 for t in topics],
            h,
            color="tab:orange",
            label=f"BM25 best paragraph ({q['bm25_accuracy']:.0%} overall)",
        )
        ax.set_yticks(list(ys))
        ax.set_yticklabels([f"{t.replace('_', ' ')} ({q['by_topic'][t]['n']})" for t in topics], fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of answers with every required fact and no wrong one", fontsize=9)
        ax.xaxis.set_label_position("top")
        ax.set_title(f"Answer quality per topic, {q['n_questions']} questions", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8, frameon=False)
        fig.tight_layout()
        path = out_dir / "accuracy_by_topic.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------- markdown
def _ms(us: float, digits: int = 1) -> float:
    return round(us / 1000, digits)


def markdown(results: dict) -> str:
    """The figures as Markdown tables, for the README's Performance section."""
    parts = results.get("parts", {})
    out: list[str] = []

    def table(header: list[str], rows: list[list]) -> None:
        out.append("| " + " | ".join(header) + " |")
        out.append("| " + " | ".join("---" if i == 0 else "---:" for i in range(len(header))) + " |")
        out.extend("| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows)
        out.append("")

    if "quality" in parts:
        q = parts["quality"]["figures"]
        out.append(f"**Answer quality** ({q['n_questions']} questions):\n")
        rows = [[t.replace("_", " "), v["n"], _pct(v["assistant"]), _pct(v["bm25"])] for t, v in q["by_topic"].items()]
        rows.append(
            ["**all**", q["n_questions"], f"**{_pct(q['assistant_accuracy'])}**", f"**{_pct(q['bm25_accuracy'])}**"]
        )
        table(["topic", "questions", "assistant (REST)", "BM25 best paragraph"], rows)
    if "nlu" in parts:
        n = parts["nlu"]["figures"]
        cv = n["cross_validation"]
        rows = [
            [
                f"intent accuracy, {cv['folds']}-fold cross-validation "
                f"({cv['examples']} examples, {cv['intents']} intents)",
                cv["intent_accuracy"],
            ],
            [
                "intent macro F1 / weighted F1 (cross-validation)",
                f"{cv['intent_macro_f1']} / {cv['intent_weighted_f1']}",
            ],
        ]
        if n.get("question_set"):
            rows.append(["intent accuracy on the question set (new phrasings)", n["question_set"]["intent_accuracy"]])
        e = n["entities"]["micro"]
        rows.append(
            [
                f"entity precision / recall / F1 (knowledge-base matcher, {n['entities']['questions']} questions)",
                f"{e['precision']} / {e['recall']} / {e['f1']}",
            ]
        )
        out.append("**NLU:**\n")
        table(["metric", "value"], rows)
        pairs = ", ".join(f"{c['intent']} → {c['predicted']} ({c['count']})" for c in cv["worst_confusions"][:5])
        out.append(f"Worst confusion pairs (cross-validation): {pairs}.\n")
    if "latency" in parts:
        lat = parts["latency"]["figures"]
        rows = []
        for ours, floor, ratio in zip(lat["assistant"], lat["floor"], lat["ratio_to_floor"], strict=True):
            rows.append(
                [
                    ours["concurrency"],
                    ours["turns"],
                    ours["p50_ms"],
                    ours["p95_ms"],
                    ours["p99_ms"],
                    ours["turns_per_second"],
                    ours["errors"],
                    floor["p50_ms"],
                    floor["p95_ms"],
                    floor["turns_per_second"],
                    f"{ratio['p50_ratio']}× / {ratio['p95_ratio']}×",
                ]
            )
        out.append("**Latency per turn and throughput** (REST, ms):\n")
        table(
            [
                "concurrent conversations",
                "turns",
                "p50",
                "p95",
                "p99",
                "turns/s",
                "errors",
                "floor p50",
                "floor p95",
                "floor turns/s",
                "p50 / p95 vs floor",
            ],
            rows,
        )
    if "growth" in parts:
        g = parts["growth"]["figures"]
        a, b = g["in_process"]["1x"], g["in_process"]["10x"]
        kb = g["knowledge_base"]
        rows = [
            [
                "procedures / codes / matcher terms",
                f"{kb['real_procedures']} / {kb['real_codes']} / {a['terms']}",
                f"{kb['procedures']} / {kb['codes']} / {b['terms']}",
            ],
            ["`KBMatcher.extract`, mean per message (ms)", _ms(a["extract"]["mean_us"]), _ms(b["extract"]["mean_us"])],
            *(
                [
                    ["`KBMatcher.extract`, CPU per message, least of alternating rounds (ms)"]
                    + [round(x["extract_cpu_us"] / 1000, 3) for x in (a, b)]
                ]
                if "extract_cpu_us" in a
                else []
            ),
        ]
        if a.get("extract_phases"):
            rows += [
                [
                    "— of which the spaCy PhraseMatchers (ms)",
                    _ms(a["extract_phases"]["phrase_matchers"], 3),
                    _ms(b["extract_phases"]["phrase_matchers"], 3),
                ],
                [
                    "— of which the fuzzy near-miss pass (ms)",
                    _ms(a["extract_phases"]["fuzzy"]),
                    _ms(b["extract_phases"]["fuzzy"]),
                ],
            ]
        rows += [
            [
                "`review_requirement`, mean / p50 per call (ms)",
                f"{_ms(a['review_requirement']['mean_us'])} / {_ms(a['review_requirement']['p50_us'])}",
                f"{_ms(b['review_requirement']['mean_us'])} / {_ms(b['review_requirement']['p50_us'])}",
            ],
            [
                "validate + load the knowledge base (s)",
                f"{a['read_and_validate_seconds']} + {a['load_seconds']}",
                f"{b['read_and_validate_seconds']} + {b['load_seconds']}",
            ],
            ["training (s)", g["training_seconds"]["1x"], g["training_seconds"]["10x"]],
        ]
        rows += _growth_rest_rows(g)
        out.append("**Cost of growth** (knowledge base 1× vs 10×):\n")
        table(["", "1×", "10×"], rows)
    if "resources" in parts:
        r = parts["resources"]["figures"]
        rows = [[f"training time, {k} (s)", v["seconds"]] for k, v in r["training"].items()]
        rows += [[f"model size, {k} (MB)", v["size_mb"]] for k, v in r["training"].items()]
        for ready in r["start_to_ready_seconds"].values():
            rows += [[f"start to ready, {server} server (s)", s] for server, s in ready.items()]
        for when, per_system in r["rss_mb"].items():
            for servers in per_system.values():
                rows += [[f"RSS {when.replace('_', ' ')}, {server} server (MB)", mb] for server, mb in servers.items()]
        out.append("**Resources:**\n")
        table(["", "value"], rows)
    return "\n".join(out)


if __name__ == "__main__":
    import json
    import sys

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "out" / "results.json"
    print(markdown(json.loads(source.read_text())))
