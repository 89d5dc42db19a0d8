"""Resources: training time (Rasa's cache off) and model size of the assistant and the floor, time from
start to ready and resident memory (RSS) of the Rasa server and the action server."""

from __future__ import annotations

from pathlib import Path

from bench.common import ROOT


def summary(
    main_training: dict,
    floor_training: dict | None,
    model_in_use: Path,
    servers: dict,
    rss_after_start: dict,
    peak_rss: dict,
) -> dict:
    result = {
        "training": {"assistant": _training(main_training)},
        "model_in_use": {"path": _rel(model_in_use), "size_mb": round(model_in_use.stat().st_size / 1e6, 1)},
        "start_to_ready_seconds": {name: s.ready_seconds for name, s in servers.items()},
        "rss_mb": {
            "after_start": rss_after_start,
            "at_end": {name: s.rss_mb() for name, s in servers.items()},
            "peak_under_load": peak_rss,
        },
    }
    if floor_training:
        result["training"]["floor"] = _training(floor_training)
    return result


def _training(meta: dict) -> dict:
    return {
        "seconds": meta["train_seconds"],
        "size_mb": round(meta["size_bytes"] / 1e6, 1),
        "measured_in_this_run": not meta.get("cached"),
        "trained_at": meta["trained_at"],
    }


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
