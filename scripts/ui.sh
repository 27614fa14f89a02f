#!/usr/bin/env bash
# The local Prefect UI for schemaflow: `scripts/ui.sh start` (make ui) starts a Prefect server
# (SQLite under $PREFECT_HOME), creates the `schemaflow` process work pool, deploys everything in
# prefect.yaml and starts a worker; `scripts/ui.sh stop` (make ui-stop) stops what start started,
# by the PIDs it wrote. `scripts/ui.sh status` says what runs. Idempotent: a second start reuses the
# running server and worker and only re-deploys.
#
# Settings (environment variables):
#   PREFECT_HOME             where the server's database, logs and PID files live (make ui: .local/prefect;
#                            Prefect's own ~/.prefect when unset); the CLI finds the server through it
#   SCHEMAFLOW_UI_PORT       loopback port of the server and UI (4200; a free one if 4200 is taken)
#   SCHEMAFLOW_PREFECT_FILE  the deployments file (prefect.yaml)
#   SCHEMAFLOW_WORK_POOL     the work pool's name (schemaflow)
#   SCHEMAFLOW_UI_STARTUP_TIMEOUT  seconds to wait for the server to answer (120)
#   SCHEMAFLOW_ALERT_WEBHOOK_URL   where a failed production run is announced (a JSON POST; Slack,
#                                  Teams...); see automations/migrate-production-failed.yaml
#   SCHEMAFLOW_DOCS_PORT     loopback port of the GX Data Docs server (4201), one site per environment
#   SCHEMAFLOW_GX_DOCS_DIR   the folder it serves (.local/gx-docs)
# The worker inherits this shell's environment, so DATABASE_URL, SCHEMAFLOW_ENVIRONMENTS and the
# like reach the flow runs it starts.
set -euo pipefail
# Everything this creates, and everything the server and worker create (Prefect's SQLite database and
# WAL, which hold the Secret blocks and their encryption key; logs, PID and port files, Data Docs), is
# the owner's alone from its first byte: a chmod afterwards would leave a window, and Prefect's own
# files are not ours to chmod.
umask 077

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PREFECT="$ROOT/.venv/bin/prefect"
PYTHON="$ROOT/.venv/bin/python"
STATE=${PREFECT_HOME:-$HOME/.prefect}
PREFECT_FILE=${SCHEMAFLOW_PREFECT_FILE:-$ROOT/prefect.yaml}
POOL=${SCHEMAFLOW_WORK_POOL:-schemaflow}
STARTUP_TIMEOUT=${SCHEMAFLOW_UI_STARTUP_TIMEOUT:-120}
DOCS_PORT=${SCHEMAFLOW_DOCS_PORT:-4201}
DOCS_DIR=${SCHEMAFLOW_GX_DOCS_DIR:-$ROOT/.local/gx-docs}

export PREFECT_HOME="$STATE"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
# The CLI must never ask a question from make.
export PREFECT_CLI_PROMPT=false

say() { printf 'ui: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

alive() { # alive NAME [WORD]: true when NAME.pid names a running process whose command has WORD (prefect)
    local pidfile="$STATE/$1.pid" pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "${2:-prefect}"
}

healthy() { # healthy PORT: the Prefect API answers on 127.0.0.1:PORT
    "$PYTHON" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/health", timeout=2).read()
PY
}

port_free() {
    "$PYTHON" - "$1" <<'PY' >/dev/null 2>&1
import socket, sys
with socket.socket() as s:
    s.bind(("127.0.0.1", int(sys.argv[1])))
PY
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

choose_port() {
    local wanted=${SCHEMAFLOW_UI_PORT:-4200}
    if port_free "$wanted"; then echo "$wanted"; return; fi
    [ -z "${SCHEMAFLOW_UI_PORT:-}" ] || die "port $wanted is in use; pick another with SCHEMAFLOW_UI_PORT=NNNN"
    local other
    other=$(free_port)
    say "port $wanted is in use by something else; using $other"
    echo "$other"
}

start_server() {
    local port
    if alive server && [ -f "$STATE/port" ]; then
        port=$(cat "$STATE/port")
        say "server already running (pid $(cat "$STATE/server.pid"), port $port)"
    else
        port=$(choose_port)
        echo "$port" > "$STATE/port"
        # setsid: the server and its children form one process group that stop can signal as a whole.
        # The UI asks /ui-settings where the API is; without PREFECT_UI_API_URL it says port 4200.
        PREFECT_UI_API_URL="http://127.0.0.1:$port/api" PREFECT_SERVER_API_PORT="$port" \
            setsid "$PREFECT" server start --host 127.0.0.1 --port "$port" --analytics-off \
            >"$STATE/server.log" 2>&1 < /dev/null &
        echo $! > "$STATE/server.pid"
        say "starting the Prefect server on 127.0.0.1:$port (log: $STATE/server.log)"
    fi
    local waited=0
    until healthy "$port"; do
        alive server || die "the Prefect server exited; last lines of $STATE/server.log:
$(tail -n 20 "$STATE/server.log" 2>/dev/null)"
        [ "$waited" -lt "$STARTUP_TIMEOUT" ] || die "the Prefect server did not answer within ${STARTUP_TIMEOUT}s; see $STATE/server.log"
        sleep 1
        waited=$((waited + 1))
    done
    export PREFECT_API_URL="http://127.0.0.1:$port/api"
}

ensure_pool() {
    if ! "$PREFECT" work-pool inspect "$POOL" >/dev/null 2>&1; then
        "$PREFECT" work-pool create "$POOL" --type process >/dev/null || die "could not create work pool $POOL"
        say "created work pool $POOL (process)"
    fi
}

prefect_objects() { # concurrency limits, the alert webhook block, automations/*.yaml
    say "creating concurrency limits, the alert block and automations"
    "$PYTHON" "$ROOT/scripts/prefect_objects.py" || die "scripts/prefect_objects.py failed"
}

deploy_all() {
    say "deploying everything in $(basename "$PREFECT_FILE")"
    if ! "$PREFECT" deploy --all --no-prompt --prefect-file "$PREFECT_FILE" >"$STATE/deploy.log" 2>&1; then
        die "prefect deploy failed; see $STATE/deploy.log:
$(tail -n 20 "$STATE/deploy.log")"
    fi
    grep -oE "Deployment '[^']+' successfully" "$STATE/deploy.log" | sed -E "s/Deployment '([^']+)'.*/ui:   deployed \\1/" >&2 || true
}

start_docs() { # GX Data Docs over HTTP, so the links in run artifacts open from the UI (file:// would not)
    if alive docs http.server; then
        say "Data Docs server already running (pid $(cat "$STATE/docs.pid"))"
    else
        port_free "$DOCS_PORT" || die "port $DOCS_PORT is in use; pick another with SCHEMAFLOW_DOCS_PORT=NNNN"
        bash "$ROOT/scripts/setup-datadocs.sh" || say "Data Docs will load their styles from CDNs (npm install failed)"
        mkdir -p "$DOCS_DIR"
        setsid "$PYTHON" -m http.server "$DOCS_PORT" --bind 127.0.0.1 --directory "$DOCS_DIR" \
            >"$STATE/docs.log" 2>&1 < /dev/null &
        echo $! > "$STATE/docs.pid"
        echo "$DOCS_PORT" > "$STATE/docs.port"
        say "serving Data Docs from $DOCS_DIR on 127.0.0.1:$DOCS_PORT (log: $STATE/docs.log)"
    fi
    # Flow runs started by the worker link their Data Docs here (expectations/datadocs.py).
    export SCHEMAFLOW_GX_DOCS_URL="http://127.0.0.1:$(cat "$STATE/docs.port")"
}

start_worker() {
    if alive worker; then
        say "worker already running (pid $(cat "$STATE/worker.pid"))"
        return
    fi
    setsid "$PREFECT" worker start --pool "$POOL" --type process --name "schemaflow-$(hostname)-$$" \
        >"$STATE/worker.log" 2>&1 < /dev/null &
    echo $! > "$STATE/worker.pid"
    say "started a worker on pool $POOL (log: $STATE/worker.log)"
}

warn_if_open() { # state an older schemaflow wrote before the umask keeps its modes: say how to close it
    local open
    open=$(find "$STATE" -perm /066 -print -quit 2>/dev/null || true)
    [ -z "$open" ] || say "WARNING: $open (and perhaps more under $STATE) is open to other users; it holds Prefect's secrets: chmod -R go-rwx $STATE"
}

stop_one() { # stop_one NAME [WORD]: signal NAME's process group until it is gone
    local pidfile="$STATE/$1.pid" pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if alive "$1" "${2:-prefect}"; then
        # A worker answers the first SIGTERM by asking its flow-run processes to stop and keeps running
        # for a long time; a second signal (SIGINT) ends it at once. SIGKILL is the last resort, so
        # `make ui-stop` never hangs; each signal gets up to 5 s.
        local sig waited
        for sig in TERM INT INT KILL; do
            kill -s "$sig" -- "-$pid" 2>/dev/null || kill -s "$sig" "$pid" 2>/dev/null || true
            waited=0
            while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 20 ]; do
                sleep 0.25
                waited=$((waited + 1))
            done
            kill -0 "$pid" 2>/dev/null || break
        done
        # Children the group signal missed (none expected) would keep the port; take them too.
        kill -s KILL -- "-$pid" 2>/dev/null || true
        say "stopped $1 (pid $pid)"
    fi
    rm -f "$pidfile"
}

case "${1:-start}" in
    start)
        mkdir -p "$STATE"
        [ -x "$PREFECT" ] || die "$PREFECT not found; run make setup first"
        [ -f "$PREFECT_FILE" ] || die "$PREFECT_FILE not found"
        warn_if_open
        start_server
        ensure_pool
        prefect_objects
        deploy_all
        start_docs
        start_worker
        echo "Prefect UI: http://127.0.0.1:$(cat "$STATE/port")  (stop with: make ui-stop)"
        echo "Data Docs:  $SCHEMAFLOW_GX_DOCS_URL/<environment>/index.html"
        echo "For the prefect CLI: export PREFECT_API_URL=$PREFECT_API_URL"
        echo "For schemaflow outside make: export PREFECT_HOME=$STATE"
        ;;
    stop)
        stop_one runner warm_runner
        stop_one worker
        stop_one docs http.server
        stop_one server
        ;;
    status)
        for name in server worker; do
            if alive "$name"; then echo "$name: running (pid $(cat "$STATE/$name.pid"))"; else echo "$name: stopped"; fi
        done
        if alive docs http.server; then echo "docs: running, http://127.0.0.1:$(cat "$STATE/docs.port")/"; else echo "docs: stopped"; fi
        if alive server; then
            echo "Prefect UI: http://127.0.0.1:$(cat "$STATE/port")"
            echo "For the prefect CLI: export PREFECT_API_URL=http://127.0.0.1:$(cat "$STATE/port")/api"
        fi
        ;;
    *)
        die "usage: $0 start|stop|status"
        ;;
esac
