#!/usr/bin/env bash
# Headless-Chromium checks of the web portal: Debian's `chromium` package driven by the npm
# package playwright-core (pinned in tests/browser/package.json; no browser download needed).
#
#   scripts/browser.sh install   # chromium (apt, only when missing) + tests/browser/node_modules
#   scripts/browser.sh run       # install, then node tests/browser/portal.mjs against a running
#                                # portal: AVB_BASE_URL, PORTAL_EMAIL, PORTAL_PASSWORD (required),
#                                # SCREENSHOT_DIR (default target/screenshots), CHROMIUM
#   scripts/browser.sh fresh     # install, then tests/browser/run-against-fresh-server.sh: a
#                                # throwaway `avb serve` (target/debug/avb or $AVB_BIN) to test
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=tests/browser

install() {
  # Debian packages, installed once, only when missing.
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # The lockfile pins playwright-core; reinstall only when the installed copy is not that version.
  local want have=""
  want=$(node -p 'require("./'"$DIR"'/package-lock.json").packages["node_modules/playwright-core"].version')
  [ -f "$DIR/node_modules/playwright-core/package.json" ] &&
    have=$(node -p 'require("./'"$DIR"'/node_modules/playwright-core/package.json").version')
  if [ "$have" != "$want" ]; then
    (cd "$DIR" && npm ci --no-audit --no-fund --silent)
  fi
}

case "${1:-}" in
  install) install ;;
  run) install; exec node "$DIR/portal.mjs" ;;
  fresh) install; exec bash "$DIR/run-against-fresh-server.sh" ;;
  *) echo "usage: scripts/browser.sh install|run|fresh" >&2; exit 2 ;;
esac
