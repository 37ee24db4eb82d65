#!/usr/bin/env bash
# Builds the benchmark suite's Go load generator (bench/loadgen, grpc-go pinned in its go.mod)
# into a cache keyed by a hash of its sources, so an edit triggers a rebuild and nothing else does.
# Silent when the build for the current sources is already there.
#   bash scripts/install_bench_tools.sh                # build if missing
#   bash scripts/install_bench_tools.sh --print-path   # same, then print the binary's path
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$here/bench/loadgen"

# Every file that affects the binary, in a stable order; names are hashed along with contents.
sources_hash="$(cd "$src" && LC_ALL=C ls go.mod go.sum *.go | xargs sha256sum | sha256sum | cut -c1-16)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/turbogrpc/bench-loadgen"
binary="$cache_root/$sources_hash/loadgen"

if [ ! -x "$binary" ]; then
  go_min="$(awk '$1 == "go" {print $2; exit}' "$src/go.mod")"
  if command -v go >/dev/null 2>&1; then go_bin="$(command -v go)"
  elif [ -x /usr/local/go/bin/go ]; then go_bin=/usr/local/go/bin/go
  else
    echo "install_bench_tools: Go not found (needs Go >= $go_min, or >= 1.21 to fetch it);" \
         "scripts/install_go_peers.sh explains how to get it." >&2
    exit 1
  fi
  have_go="$("$go_bin" env GOVERSION | sed 's/^go//')"
  if [ "$(printf '%s\n%s\n' "$go_min" "$have_go" | sort -V | head -n1)" = "$go_min" ]; then
    toolchain="local"
  else
    toolchain="auto" # let Go download the toolchain go.mod demands
  fi

  # To stderr, so `--print-path` output stays the path alone even when it builds.
  echo "install_bench_tools: building the Go load generator into $cache_root/$sources_hash" >&2
  # Build into a scratch folder and rename, so an interrupted build never looks installed.
  scratch="$cache_root/$sources_hash.partial"
  rm -rf "$scratch"
  mkdir -p "$scratch"
  log="$(mktemp)"
  trap 'rm -f "$log"' EXIT
  if ! (cd "$src" && GOTOOLCHAIN="$toolchain" GOFLAGS="-mod=readonly -buildvcs=false" \
        "$go_bin" build -trimpath -o "$scratch/loadgen" .) >"$log" 2>&1; then
    cat "$log" >&2
    rm -rf "$scratch"
    echo "install_bench_tools: building bench/loadgen failed (Go $have_go)" >&2
    exit 1
  fi
  rm -rf "${cache_root:?}/$sources_hash"
  mv "$scratch" "$cache_root/$sources_hash"
  # Builds of older sources are never used again.
  find "$cache_root" -mindepth 1 -maxdepth 1 ! -name "$sources_hash" -exec rm -rf {} +
fi

if [ "${1:-}" = "--print-path" ]; then
  echo "$binary"
fi
