#!/usr/bin/env bash
# Installs every system and Python package turbogrpc needs to build, test and run its examples.
# Idempotent: when everything is already there it prints nothing and touches no registry.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

apt_packages=(g++ cmake ninja-build pkg-config libnghttp2-dev libssl-dev zlib1g-dev
              libgtest-dev nghttp2-client grpc-proto clang libclang-rt-dev
              openssl # the CLI: TLS tests, the interop TLS legs and examples/tls make certificates
              nginx # grpc_pass reverse proxy of tests/e2e/test_nginx_proxy.py (each test runs its own)
              dnsmasq-base) # the DNS server that dns://server/host targets name in tests/e2e/test_dns_server.py
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing system packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python="${PYTHON:-python3}"
if ! "$python" "$here/scripts/check_requirements.py" "$here/requirements-dev.txt"; then
  echo "bootstrap: installing Python packages from requirements-dev.txt"
  "$python" -m pip install -q --disable-pip-version-check -r "$here/requirements-dev.txt"
fi

bash "$here/scripts/install_go_peers.sh" # grpc-go's interop client and server, for interop/run_matrix.py
bash "$here/scripts/install_bench_tools.sh" # the Go load generator of bench/run.py
bash "$here/scripts/install_grpc_tools.sh" # grpcurl and grpc_health_probe, for the health/reflection tests
