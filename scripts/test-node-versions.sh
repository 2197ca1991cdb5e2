#!/usr/bin/env bash
# Runs the unit and conformance suites on Node 22 and 24 LTS (issue 18): the machine's
# Node runs `npm test`; these binaries come from the npm `node` package, installed into
# .tmp/node-<major>/ — never into the project's node_modules, whose node/.bin would
# change the Node every npm script uses.
# Usage: scripts/test-node-versions.sh [major…]   (default: 22 24)
set -euo pipefail
cd "$(dirname "$0")/.."

majors=("$@")
[ "${#majors[@]}" -gt 0 ] || majors=(22 24)
suites=(lease schedule scheduler basics validation conformance.memory conformance.file conformance.redis
  conformance.postgres conformance.mysql)

failed=()
for major in "${majors[@]}"; do
  prefix=".tmp/node-${major}"
  bin="${prefix}/node_modules/node/bin/node"
  if ! "$bin" --version 2>/dev/null | grep -q "^v${major}\."; then
    echo "node-versions: installing node@${major} into ${prefix}"
    npm install --prefix "$prefix" --no-save --no-audit --no-fund --no-package-lock "node@${major}" >/dev/null
  fi
  echo "node-versions: $("$bin" --version): ${suites[*]}"
  start=$(date +%s)
  # scripts/test.mjs starts the runner with its own process.execPath, so the whole run is on this Node.
  if "$bin" scripts/test.mjs "${suites[@]}"; then
    echo "node-versions: $("$bin" --version) passed in $(($(date +%s) - start)) s"
  else
    echo "node-versions: $("$bin" --version) FAILED after $(($(date +%s) - start)) s" >&2
    failed+=("$major")
  fi
done
# Every version runs even when one fails, so one CI run shows them all.
[ "${#failed[@]}" -eq 0 ] || { echo "node-versions: failed on Node ${failed[*]}" >&2; exit 1; }
