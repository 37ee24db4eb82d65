#!/usr/bin/env bash
# The whole example in one command: makes a throwaway PKI (make_certs.sh), then runs server.py
# and client.py on loopback twice, over TLS and over mutual TLS (--mtls). Exits non-zero if
# either client run fails; the server is always stopped (SIGTERM, then SIGKILL after 10 s).
#   bash examples/tls/run.sh           # both variants
#   bash examples/tls/run.sh --mtls    # mutual TLS only (--tls: server-authenticated TLS only)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
case "${1:-}" in
  "") modes=(tls mtls) ;;
  --tls) modes=(tls) ;;
  --mtls) modes=(mtls) ;;
  *) echo "usage: $0 [--tls | --mtls]" >&2; exit 2 ;;
esac

server_pid=""
server_log="$(mktemp)"

stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap 'stop_server; rm -f "$server_log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$here/make_certs.sh"
for mode in "${modes[@]}"; do
  flag=""; [ "$mode" = mtls ] && flag="--mtls"
  echo "== $mode: starting server.py${flag:+ $flag}"
  "$python" "$here/server.py" --port 0 $flag >"$server_log" 2>&1 &
  server_pid=$!
  port=""
  for _ in $(seq 300); do # up to 30 s
    port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$server_log")"
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "run: the server did not start listening; its output:" >&2
    cat "$server_log" >&2
    exit 1
  fi
  client_status=0
  "$python" "$here/client.py" --port "$port" $flag || client_status=$?
  stop_server
  sed 's/^/[server] /' "$server_log"
  if [ "$client_status" -ne 0 ]; then
    echo "run: client.py $flag failed (exit $client_status)" >&2
    exit "$client_status"
  fi
done
echo "== example OK (${modes[*]})"
