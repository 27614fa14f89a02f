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
if [ -f "$stamp" ] && cmp -s pyproject.toml "$stamp"; then
    exit 0
fi
say "installing schemaflow and its dependencies into $VENV (first time: about 2 minutes)"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e '.[dev]' || { say "ERROR: pip install failed (see above)"; exit 1; }
cp pyproject.toml "$stamp"
