#!/usr/bin/env bash
# The test command (npm test): every test file under test/ with node --test (Node 20 has no
# test-file globbing, and a directory argument would silently run nothing), then the chaos smoke
# set (test/chaos/run.ts --smoke, about 4 minutes). Extra arguments go to node --test.
# REDFENCE_SKIP_CHAOS=1 leaves the chaos smoke set out (for a quick local run).
set -euo pipefail
shopt -s globstar nullglob
cd "$(dirname "$0")/.."
files=(test/unit/**/*.test.ts test/integration/**/*.test.ts test/chaos/**/*.test.ts)
if ((${#files[@]} == 0)); then
  echo "run-tests: no test files found under test/" >&2
  exit 1
fi
node --import tsx --test --test-concurrency=1 "$@" "${files[@]}"
if [ "${REDFENCE_SKIP_CHAOS:-}" != "1" ]; then
  node --import tsx test/chaos/run.ts --smoke
fi
