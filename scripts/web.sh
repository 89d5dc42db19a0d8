#!/usr/bin/env bash
# Sets up the web pages' dependencies, idempotently: the rasa-webchat bundle from npm (package-lock.json) copied
# into priorauth/web/static/vendor/ so the pages need no CDN, and with --browser Debian's chromium for the
# browser tests (never `playwright install`: browser downloads are blocked here).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

VENDOR="$ROOT/priorauth/web/static/vendor"
BUNDLE="$VENDOR/rasa-webchat.js"
STAMP="$VENDOR/.lock-sha256"

install_bundle() {
  local want
  want="$(sha256sum package-lock.json | cut -c1-64)-no-font-import"
  if [ -s "$BUNDLE" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is needed once to fetch the web chat widget (rasa-webchat): apt-get install -y npm" >&2
    return 1
  fi
  log "installing the web chat widget (rasa-webchat, from package-lock.json)"
  # The UMD bundle is self-contained (React included): no peer dependencies, no install scripts.
  npm ci --ignore-scripts --legacy-peer-deps --no-audit --no-fund --loglevel=error >"$RUN_DIR/logs/npm.log" 2>&1 || {
    tail -n 20 "$RUN_DIR/logs/npm.log" >&2; echo "npm ci failed: see $RUN_DIR/logs/npm.log" >&2; return 1; }
  mkdir -p "$VENDOR"
  # The bundle's CSS imports a Google font: the pages' CSP (style-src 'self') blocks it with a console error
  # on every load, and the pages are meant to need nothing from elsewhere. Dropped; the system font is used.
  sed 's#@import url(https://fonts.googleapis.com/css?family=Inter:400,500,700\&display=swap);##g' \
      node_modules/rasa-webchat/lib/index.js >"$BUNDLE.tmp"
  if grep -q "fonts.googleapis.com" "$BUNDLE.tmp"; then
    echo "the widget bundle still imports fonts.googleapis.com: update the pattern in scripts/web.sh" >&2; return 1
  fi
  mv "$BUNDLE.tmp" "$BUNDLE"
  cp node_modules/rasa-webchat/LICENSE "$VENDOR/rasa-webchat.LICENSE"
  echo "$want" >"$STAMP"
  log "widget bundle: ${BUNDLE#"$ROOT"/} ($(du -h "$BUNDLE" | cut -f1))"
}

install_browser() {
  [ -x /usr/bin/chromium ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "the browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2
    return 1
  fi
  log "installing Debian's chromium for the browser tests (about a minute)"
  { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } \
    >"$RUN_DIR/logs/apt-chromium.log" 2>&1 || {
    tail -n 20 "$RUN_DIR/logs/apt-chromium.log" >&2; echo "could not install chromium" >&2; return 1; }
  log "browser: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
}

install_bundle
if [ "${1:-}" = "--browser" ]; then
  install_browser
fi
