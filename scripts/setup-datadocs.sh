#!/usr/bin/env bash
# Installs the CSS and JS that GX Data Docs load from CDNs (Bootstrap, jQuery, Font Awesome,
# bootstrap-table, Vega...) from npm into scripts/datadocs/node_modules; expectations/datadocs.py
# copies them into each Data Docs site and points the pages at them, so Data Docs render with no
# internet. Optional: without npm the pages keep their CDN links (and say so). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/datadocs"
if ! command -v npm >/dev/null; then
    echo "setup-datadocs: npm not found; Data Docs will load their styles from CDNs (install nodejs to serve them locally)" >&2
    exit 0
fi
if [ -f node_modules/.schemaflow-installed ] && cmp -s package.json node_modules/.schemaflow-installed; then
    exit 0
fi
echo "setup-datadocs: installing the Data Docs styles and scripts (npm, about 20 s)" >&2
# --legacy-peer-deps: the pinned versions are the ones the pages ask for (popper.js 1.12.9 under
# Bootstrap 4.3.1, whose peer range starts at 1.14.7); nothing here is bundled, files are copied.
npm install --legacy-peer-deps --omit=dev --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
cp package.json node_modules/.schemaflow-installed
