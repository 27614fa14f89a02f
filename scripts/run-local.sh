#!/usr/bin/env bash
# What `make run` does after set-up: start the embedded database, give it demo data the first time,
# run the migrate flow for environment `local`, and say where to look next.
#
# The first run on an empty database migrates once without the data-quality suites (the schema must
# exist before seed data can go in), seeds, then runs the full migrate (0 changes, metrics_daily
# refreshed, verification with the suites on real data). Later runs only migrate.
#
# Settings: SCHEMAFLOW_SEED_ARGS (extra arguments for `schemaflow seed-data`, e.g. "--events 100000");
# PREFECT_HOME, the Prefect state folder shared with `make ui` (the Makefile sets .local/prefect).
set -euo pipefail
# Private from creation: the Prefect state, reports and backups under .local/ (see scripts/ui.sh).
umask 077

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SF="$ROOT/.venv/bin/schemaflow"
PYTHON="$ROOT/.venv/bin/python"

say() { printf 'run: %s\n' "$*" >&2; }

export PREFECT_SERVER_ANALYTICS_ENABLED=false
# `schemaflow migrate` itself sends runs to `make ui`'s server when it answers; otherwise its temporary
# server keeps them in the same PREFECT_HOME database, where `make ui` shows them later.
: "${PREFECT_HOME:?set PREFECT_HOME (make run sets it to .local/prefect)}"
export PREFECT_HOME

"$SF" local-db start

# rows: -1 = no schema yet, otherwise the number of listener events (a cheap estimate is enough).
rows=$("$PYTHON" - "$("$SF" local-db url)" <<'PY'
import sys, psycopg
with psycopg.connect(sys.argv[1], connect_timeout=10) as conn:
    exists = conn.execute("SELECT to_regclass('public.listener_events') IS NOT NULL").fetchone()[0]
    print(conn.execute("SELECT count(*) FROM (SELECT 1 FROM public.listener_events LIMIT 1) s").fetchone()[0]
          if exists else -1)
PY
)

if [ "$rows" -le 0 ]; then
    if [ "$rows" -lt 0 ]; then
        say "empty database: creating the schema before seeding"
        "$SF" migrate --env local --skip-expectations
    fi
    say "seeding demo data (schemaflow seed-data --env local ${SCHEMAFLOW_SEED_ARGS:-})"
    # shellcheck disable=SC2086  # the extra arguments are meant to split
    "$SF" seed-data --env local ${SCHEMAFLOW_SEED_ARGS:-}
else
    say "the database already has data: not seeding again"
fi

"$SF" migrate --env local

report=$("$PYTHON" -c 'from db.connection.environments import get_environment; print(get_environment("local").report_log)')
cat >&2 <<EOF

run: done. Where to look next:
  - this run's report:          $report
  - migration history:          $SF history --env local
  - GX Data Docs:               the "data docs" row of the report (when the suites ran)
  - the database:               psql "\$($SF local-db url)"   (stop it with: $SF local-db stop)
  - Prefect UI (runs, artifacts: migrate-local-report, -preflight, -changes, -verify):  make ui
EOF
