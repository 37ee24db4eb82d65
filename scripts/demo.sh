#!/usr/bin/env bash
# Set-up to result for the example: installs everything, builds and installs turbogrpc, then runs
# the route_guide server and client on loopback (all four RPC shapes). Exits with the client's
# status; the server is always stopped, with SIGTERM first so it can finish gracefully.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
example=examples/route_guide

bash scripts/bootstrap.sh
echo "== building and installing turbogrpc"
python3 -m pip install -q --disable-pip-version-check --no-build-isolation . 2>&1 \
  | { grep -v "Running pip as the 'root' user" || true; }
python3 -c "import turbogrpc.aio" # fail early, with the import error, if the build did not land

server_pid=""
client_pid=""
server_log="$(mktemp)"

# Sends SIGTERM, gives the server 10 s to stop gracefully, then SIGKILL; sets server_status.
stop_server() {
  server_status=0
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "demo: server ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" || server_status=$?
  server_pid=""
}

cleanup() {
  [ -z "$client_pid" ] || kill -TERM "$client_pid" 2>/dev/null || true
  stop_server
  rm -f "$server_log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== starting the example server"
python3 "$example/server.py" --port 0 >"$server_log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 300); do # up to 30 s
  port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$server_log")"
  [ -n "$port" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "demo: the server did not start listening; its output:" >&2
  cat "$server_log" >&2
  exit 1
fi
shown="$(wc -l <"$server_log")"
sed 's/^/[server] /' "$server_log"

echo "== running the example client against 127.0.0.1:$port"
client_status=0
python3 "$example/client.py" --port "$port" &
client_pid=$! # in the background: a `wait` lets the INT/TERM traps run at once
wait "$client_pid" || client_status=$?
client_pid=""

echo "== stopping the server (SIGTERM)"
stop_server
tail -n "+$((shown + 1))" "$server_log" | sed 's/^/[server] /'
if [ "$server_status" -ne 0 ]; then
  echo "demo: warning: the server exited with status $server_status" >&2
fi
exit "$client_status"
