"""Waits until the Rasa server has loaded its model and the action server answers (or gives up)."""

from __future__ import annotations

import json
import sys
import time
import urllib.request


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = response.read().decode()
    except OSError:
        return False
    if url.endswith("/health"):
        return json.loads(body or "{}").get("status") == "ok"
    return "Hello from Rasa" in body


def main(urls: list[str], timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        pending = [u for u in pending if not ready(u)]
        if pending:
            time.sleep(1)
    return 1 if pending else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
