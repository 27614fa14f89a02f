#!/usr/bin/env bash
# The pull-request check (.github/workflows/pr-check.yml runs exactly this; tests/cli/test_pr_check.py
# runs it on a fixture change): lint the master file, lint the one-offs, and plan what the change does
# to a database built from the base branch. Run from the repository's top folder:
#
#   bash scripts/pr-check.sh BASE_REF [OUTPUT_DIR]      e.g. bash scripts/pr-check.sh origin/main pr-check
#
# Writes OUTPUT_DIR/plan.md (the pull request's Markdown) and lint.txt, and appends plan.md
# to $GITHUB_STEP_SUMMARY when set. The scratch server is $SCHEMAFLOW_SCRATCH_URL when set, else the
# embedded local cluster (started here). $SCHEMAFLOW_STATS_FROM, when set, is a read-only URL of a live
# database (a staging replica) whose sizes fill the plan. $SCHEMAFLOW_PLAN_ENV (default staging) is the
# environment whose allowed hazards mark the steps. Exit 0 when every check ran clean (a plan with
# steps is the point of a schema change, not a failure), 1 when a lint failed or the plan could not be
# computed. No connection string is ever echoed.
set -euo pipefail

BASE_REF=${1:?usage: pr-check.sh BASE_REF [OUTPUT_DIR]}
OUT=${2:-pr-check}
SF=${SCHEMAFLOW:-.venv/bin/schemaflow}
SCHEMA=${SCHEMAFLOW_SCHEMA_PATH:-db/migrations/99999999999999_master_schema.sql}
ENVIRONMENT=${SCHEMAFLOW_PLAN_ENV:-staging}
say() { printf 'pr-check: %s\n' "$*" >&2; }

mkdir -p "$OUT"
failed=0

say "lint $SCHEMA"
"$SF" lint "$SCHEMA" >"$OUT/lint.txt" 2>&1 || failed=1
say "lint-migrations $(dirname "$SCHEMA")"
"$SF" lint-migrations --dir "$(dirname "$SCHEMA")" >>"$OUT/lint.txt" 2>&1 || failed=1
cat "$OUT/lint.txt"

plan_args=(plan --base-ref "$BASE_REF" --schema-path "$SCHEMA" --env "$ENVIRONMENT")
if [ -n "${SCHEMAFLOW_SCRATCH_URL:-}" ]; then
    plan_args+=(--scratch-url "$SCHEMAFLOW_SCRATCH_URL")
else
    "$SF" local-db start >&2
fi
if [ -n "${SCHEMAFLOW_STATS_FROM:-}" ]; then
    plan_args+=(--stats-from "$SCHEMAFLOW_STATS_FROM")
fi

say "plan of the change against $BASE_REF"
code=0
"$SF" "${plan_args[@]}" --format markdown >"$OUT/plan.md" || code=$?
# Exit 1 is "the change does something"; a plan that printed no report is an error whatever the code.
if [ "$code" -gt 1 ] || ! grep -q '^## schemaflow: what this change does' "$OUT/plan.md"; then
    say "the plan could not be computed (exit $code): see the error above"
    printf '## schemaflow: the plan of this change could not be computed\n\nSee the job log.\n' >"$OUT/plan.md"
    failed=1
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$OUT/plan.md" >>"$GITHUB_STEP_SUMMARY"
fi
cat "$OUT/plan.md"
exit "$failed"
