#!/usr/bin/env bash
# `make run`: start the embedded server (SQLite, memory queue, files under ./.factflow) with the
# shipped demo pipeline stored, wait until it answers, then show the next commands to type.
set -euo pipefail
cd "$(dirname "$0")/.."

venv_bin="$PWD/.venv/bin"
host="${FACTFLOW_HOST:-127.0.0.1}"
port="${FACTFLOW_PORT:-8000}"
export FACTFLOW_SERVER_URL="${FACTFLOW_SERVER_URL:-http://$host:$port}"

"$venv_bin/factflow-server" serve --embedded --host "$host" --port "$port" &
server_pid=$!
# Ctrl+C reaches the server too (same process group); wait for its graceful shutdown.
trap 'wait "$server_pid"; exit $?' INT TERM

for _ in $(seq 120); do
    if "$venv_bin/factflow" system health >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid"
        exit $?
    fi
    sleep 0.5
done

demo_id=$("$venv_bin/factflow" config list -o json | "$venv_bin/python" -c \
    'import json, sys; print(next((c["id"] for c in json.load(sys.stdin)["configs"] if c["name"] == "demo"), ""))')

cat >&2 <<TEXT

  factflow is running at $FACTFLOW_SERVER_URL (embedded: data under ./.factflow). Ctrl+C stops it.
  Web console: $FACTFLOW_SERVER_URL/ (run the demo pipeline from Configs → demo → Run).
  In another terminal, from this directory:

    source .venv/bin/activate
    factflow config list                                   # the shipped demo pipeline
    factflow config run ${demo_id:-<CONFIG_ID>} --wait     # run it and watch it finish
    factflow execution list                                # the execution you just ran
    factflow storage list --execution <EXEC_ID>            # every stored stage output
    factflow lineage list --execution <EXEC_ID>            # every hop of every message

  The full walkthrough is docs/getting-started.md.

TEXT
wait "$server_pid"
