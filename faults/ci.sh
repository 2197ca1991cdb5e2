#!/usr/bin/env bash
# Short fault-harness runs for CI: every store with a profile in faults/run.ts (from the
# store registry), every fault kind it supports, 3 workers.
# About 3 minutes in all on a 2-core machine. Exits non-zero when any store's run fails
# (a must-be-zero figure was not zero, or the harness could not run).
# Seed: FAULTS_SEED (default 1), so a failing schedule can be replayed.
set -uo pipefail
cd "$(dirname "$0")/.."
seed="${FAULTS_SEED:-1}"
out="${FAULTS_OUT:-$(mktemp -d)}"
status=0
specs="$(node --import tsx faults/run.ts --list-ci)" || exit 1
for spec in $specs; do
  store="${spec%%:*}"
  duration="${spec#*:}"
  echo "=== faults: $store ($duration, seed $seed)"
  if ! node --import tsx faults/run.ts --store "$store" --duration "$duration" --workers 3 --seed "$seed" --json "$out/$store.json"; then
    echo "=== faults: $store FAILED (json: $out/$store.json)" >&2
    status=1
  fi
done
exit $status
