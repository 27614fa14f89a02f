#!/usr/bin/env bash
# Creates .venv and installs schemaflow with its development tools. Idempotent: reinstalls only
# when pyproject.toml changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
stamp=$VENV/.installed-pyproject
say() { printf 'setup-venv: %s\n' "$*" >&2; }

command -v "$PYTHON" >/dev/null || { say "ERROR: $PYTHON not found; install Python 3.11"; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
bash scripts/setup-datadocs.sh  # the Data Docs' CSS/JS from npm (optional, idempotent)
if [ -f "$stamp" ] && cmp -s pyproject.toml "$stamp"; then
    exit 0
fi
say "installing schemaflow and its dependencies into $VENV (first time: about 2 minutes)"
log=$VENV/pip-install.log
{ "$VENV/bin/python" -m pip install -q --upgrade pip && "$VENV/bin/python" -m pip install -q -e '.[dev]'; } >"$log" 2>&1 \
    || { grep -v '^WARNING: Location' "$log" | tail -n 30 >&2; say "ERROR: pip install failed; full log: $log"; exit 1; }
cp pyproject.toml "$stamp"
