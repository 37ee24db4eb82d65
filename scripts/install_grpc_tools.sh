#!/usr/bin/env bash
# Installs the real gRPC command-line tools the health and reflection tests drive against our
# server — grpcurl (reflection, and calls through it) and grpc_health_probe — built by
# `go install` at pinned versions into a per-version cache outside the repo.
# Silent when both binaries are already there.
#   bash scripts/install_grpc_tools.sh                 # install if missing
#   bash scripts/install_grpc_tools.sh --print-paths   # same, then print GRPCURL= and GRPC_HEALTH_PROBE=
set -euo pipefail

# The one place these versions are pinned.
grpcurl_version="v1.9.4"
health_probe_version="v0.4.62"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/turbogrpc/grpc-tools"
grpcurl_dir="$cache_root/grpcurl-$grpcurl_version"
probe_dir="$cache_root/grpc-health-probe-$health_probe_version"
grpcurl_bin="$grpcurl_dir/grpcurl"                 # `go install` names each binary after its folder
probe_bin="$probe_dir/grpc-health-probe"

print_paths() {
  if [ "${1:-}" = "--print-paths" ]; then
    echo "GRPCURL=$grpcurl_bin"
    echo "GRPC_HEALTH_PROBE=$probe_bin"
  fi
}

if [ -x "$grpcurl_bin" ] && [ -x "$probe_bin" ]; then
  print_paths "${1:-}"
  exit 0
fi

if command -v go >/dev/null 2>&1; then go_bin="$(command -v go)"
elif [ -x /usr/local/go/bin/go ]; then go_bin=/usr/local/go/bin/go
else
  echo "install_grpc_tools: Go not found; scripts/install_go_peers.sh explains how to get it." >&2
  exit 1
fi
have_go="$("$go_bin" env GOVERSION | sed 's/^go//')"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
install_one() { # $1 = module package@version, $2 = destination folder
  [ -x "$2/$(basename "${1%@*}")" ] && return 0
  echo "install_grpc_tools: building $1 into $2" >&2
  # Build into a scratch GOBIN and rename, so an interrupted build never looks installed.
  # GOTOOLCHAIN=auto uses this Go when it is new enough for the module, else fetches the one
  # its go.mod names from the module proxy.
  local scratch="$2.partial"
  rm -rf "$scratch"
  mkdir -p "$scratch"
  if ! (cd "$scratch" && GOTOOLCHAIN=auto GOBIN="$scratch" GOFLAGS="-trimpath" \
        "$go_bin" install "$1") >"$log" 2>&1; then
    cat "$log" >&2
    rm -rf "$scratch"
    echo "install_grpc_tools: building $1 failed (Go $have_go)" >&2
    exit 1
  fi
  rm -rf "$2"
  mv "$scratch" "$2"
}

install_one "github.com/fullstorydev/grpcurl/cmd/grpcurl@$grpcurl_version" "$grpcurl_dir"
install_one "github.com/grpc-ecosystem/grpc-health-probe@$health_probe_version" "$probe_dir"
print_paths "${1:-}"
