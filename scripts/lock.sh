#!/usr/bin/env bash
# Regenerates the lock files requirements/{run,test,bench}.lock from pyproject.toml: every package pinned with the
# hash of its file for CPython 3.10 on Linux x86_64 (the platform the project runs and is tested on). Run it after
# changing a dependency in pyproject.toml, then commit the locks.
#
# The resolution is pip's own (`pip install --dry-run --ignore-installed --report`, in a throwaway venv under /tmp,
# never .venv): it yields each resolved file's URL and sha256 without installing anything, in about a minute per
# set. (pip-compile --generate-hashes downloads every platform's files to hash them: over 25 minutes here.) The
# test set is resolved first; run and bench are resolved with its versions as constraints, so test holds run's
# versions exactly and bench holds test's, and ensure_venv (scripts/common.sh) treats a larger set as enough.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
py310="$(find_python310)" || { echo "Python 3.10 is required to resolve the locks" >&2; exit 1; }
TOOLS="$(mktemp -d /tmp/priorauth-lock.XXXXXX)"
trap 'rm -rf "$TOOLS"' EXIT
"$py310" -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/python" -m pip install --quiet "pip>=24,<25"

resolve() {  # resolve SET EXTRAS [pip args...]
  local set="$1" extras="$2"; shift 2
  log "resolving requirements/$set.lock (pyproject.toml${extras:+ [$extras]})"
  "$TOOLS/venv/bin/python" -m pip install --quiet --dry-run --ignore-installed --report "$TOOLS/$set.json" \
    "$@" "$ROOT${extras:+[$extras]}" 2> >(grep -v "WARNING: Location" >&2)
  "$TOOLS/venv/bin/python" - "$TOOLS/$set.json" "requirements/$set.lock" "$set" "$extras" <<'PY'
import json
import sys
from pathlib import Path

report, out, name, extras = sys.argv[1:]
lines = [
    f"# The {name} set: pyproject.toml{f' [{extras}]' if extras else ''}, resolved by scripts/lock.sh for CPython 3.10",
    "# on Linux x86_64. Installed with: pip install --require-hashes -r this file, then pip install --no-deps -e .",
]
for item in sorted(json.loads(Path(report).read_text())["install"], key=lambda i: i["metadata"]["name"].lower()):
    meta, info = item["metadata"], item["download_info"]
    if "dir_info" in info:  # the project itself, installed editable on top
        continue
    sha = info["archive_info"]["hashes"]["sha256"]
    lines.append(f"{meta['name']}=={meta['version']} \\\n    --hash=sha256:{sha}")
Path(out).write_text("\n".join(lines) + "\n")
print(f"requirements/{name}.lock: {len(lines) - 2} packages")
PY
}
mkdir -p requirements
resolve test test
# Constraints: the test set's versions, without hashes (pip refuses hashes in a constraints file).
sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\).*/\1/p' requirements/test.lock >"$TOOLS/test-pins.txt"
resolve run "" -c "$TOOLS/test-pins.txt"
resolve bench "test,bench" -c "$TOOLS/test-pins.txt"
"$TOOLS/venv/bin/python" - <<'PY'
# A smaller set's pins must be the larger set's exactly, so that one venv can serve both.
import re
from pathlib import Path

def pins(name):
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", Path(f"requirements/{name}.lock").read_text(), re.M))

run, test, bench = pins("run"), pins("test"), pins("bench")
for small, big, label in ((run, test, "run in test"), (test, bench, "test in bench")):
    wrong = {k: (v, big.get(k)) for k, v in small.items() if big.get(k) != v}
    assert not wrong, f"{label}: {wrong}"
print(f"locks consistent: run {len(run)} ⊆ test {len(test)} ⊆ bench {len(bench)} packages")
PY
