#!/usr/bin/env bash
# Installs grpc-go's official interop client and server (the peers of interop/run_matrix.py)
# into a per-version cache outside the repo. Silent when both binaries are already there.
#   bash scripts/install_go_peers.sh                 # install if missing
#   bash scripts/install_go_peers.sh --print-paths   # same, then print GO_INTEROP_{VERSION,CLIENT,SERVER}=
set -euo pipefail

# The one place the grpc-go version is pinned; bump both lines together
# (go_min is the `go` directive of grpc-go's go.mod at that version).
grpc_go_version="v1.85.0"
go_min="1.26.0"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/turbogrpc/grpc-go-interop/$grpc_go_version"
client_bin="$cache_root/client/client"   # `go install` names each binary after its folder
server_bin="$cache_root/server/server"

print_paths() {
  if [ "${1:-}" = "--print-paths" ]; then
    echo "GO_INTEROP_VERSION=$grpc_go_version"
    echo "GO_INTEROP_CLIENT=$client_bin"
    echo "GO_INTEROP_SERVER=$server_bin"
  fi
}

if [ -x "$client_bin" ] && [ -x "$server_bin" ]; then
  print_paths "${1:-}"
  exit 0
fi

version_at_least() { # $1 >= $2, both dotted versions
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go
  elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
  fi
}

go_bin="$(find_go)"
if [ -z "$go_bin" ]; then
  # Debian's Go is usable only if it can build the module itself or (Go >= 1.21) fetch a newer
  # toolchain from the module proxy; older ones cannot do either.
  debian_go="$(apt-cache policy golang-go 2>/dev/null | awk '/Candidate:/ {print $2}' \
               | sed -E 's/^[0-9]+://; s/~.*//; s/-.*//')"
  if [ -z "$debian_go" ] || [ "$debian_go" = "(none)" ] || ! version_at_least "$debian_go" "1.21"; then
    echo "install_go_peers: Go not found, and Debian's golang-go (${debian_go:-none}) is too old" \
         "for grpc-go $grpc_go_version (needs Go >= $go_min, or >= 1.21 to fetch it)." \
         "Install Go from https://go.dev/dl into /usr/local/go and re-run." >&2
    exit 1
  fi
  echo "install_go_peers: installing Debian golang-go $debian_go"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq golang-go >/dev/null
  go_bin="$(find_go)"
fi

have_go="$("$go_bin" env GOVERSION | sed 's/^go//')"
if version_at_least "$have_go" "$go_min"; then
  toolchain="local"
else
  toolchain="auto" # let Go download the toolchain the module demands
fi

echo "install_go_peers: building grpc-go $grpc_go_version interop client+server into $cache_root"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for program in client server; do
  # Build into a scratch GOBIN and rename, so an interrupted build never looks installed.
  scratch="$cache_root/$program.partial"
  rm -rf "$scratch"
  mkdir -p "$scratch"
  if ! (cd "$cache_root" && GOTOOLCHAIN="$toolchain" GOBIN="$scratch" \
        "$go_bin" install "google.golang.org/grpc/interop/$program@$grpc_go_version") >"$log" 2>&1; then
    cat "$log" >&2
    echo "install_go_peers: building grpc-go's interop $program failed (Go $have_go)" >&2
    exit 1
  fi
  rm -rf "$cache_root/$program"
  mv "$scratch" "$cache_root/$program"
done
print_paths "${1:-}"
