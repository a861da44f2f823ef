#!/usr/bin/env bash
# Runs every test file under test/ (Node 20 has no test-file globbing, and a directory argument
# would silently run nothing). Extra arguments are passed to node --test.
set -euo pipefail
shopt -s globstar nullglob
cd "$(dirname "$0")/.."
files=(test/unit/**/*.test.ts test/integration/**/*.test.ts)
if ((${#files[@]} == 0)); then
  echo "run-tests: no test files found under test/" >&2
  exit 1
fi
exec node --import tsx --test --test-concurrency=1 "$@" "${files[@]}"
