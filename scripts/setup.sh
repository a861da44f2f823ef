#!/usr/bin/env bash
# From a fresh clone to a running demo in one command: installs redis-server (and PostgreSQL, for
# the SQL fencing example's test) when missing (Debian/Ubuntu packages), installs the locked npm dependencies (which builds), and runs the demo on an
# embedded local 5-node cluster. Arguments go to the demo (e.g. --duration 3); --no-demo skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node 20.19+ or 22.12+: the versions that can require() an ES module (package.json "engines").
if ! node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  process.exit((major === 20 ? minor >= 19 : major === 22 ? minor >= 12 : major >= 23) ? 0 : 1);
' 2>/dev/null; then
  echo "setup: redfence needs Node.js 20.19+ or 22.12+ (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

need=()
if [ -z "${REDIS_SERVER_BIN:-}" ] && ! command -v redis-server >/dev/null 2>&1; then need+=(redis-server); fi
# PostgreSQL only backs the SQL fencing example's test (test/integration/postgres-fence.test.ts).
if ! command -v pg_config >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need+=(postgresql); fi
if ((${#need[@]})); then
  echo "setup: installing ${need[*]} from Debian's packages"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
redis-server --version

# npm ci also builds: the package's `prepare` script runs `npm run build`.
npm ci --no-audit --no-fund

if [ "${1:-}" = "--no-demo" ]; then exit 0; fi
node dist/cli/main.js demo "$@"
