#!/usr/bin/env bash
# Makes a throwaway PKI for this example with the openssl CLI, into _certs/ next to this script:
#   ca.pem / ca.key          a self-signed root (the only thing clients and the server trust)
#   server.pem / server.key  from the CA; names localhost, 127.0.0.1 and ::1
#   client.pem / client.key  from the CA; CN greeter-client (presented with --mtls)
# Every run replaces them all. EC P-256 keys, valid 30 days. Never commit them, never reuse them.
set -euo pipefail
out="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/_certs"
mkdir -p "$out"
cd "$out"
umask 077 # private keys readable by their owner only

# Runs openssl, showing its chatter only when it fails.
quietly() {
  local log
  if ! log="$(openssl "$@" 2>&1)"; then
    printf '%s\n' "$log" >&2
    echo "make_certs: openssl $1 failed" >&2
    exit 1
  fi
}

# Signs a new key's certificate with the CA: $1 file stem, $2 common name, $3 extensions.
issue() {
  printf '%s\n' "$3" >"$1.ext"
  quietly req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/O=turbogrpc example/CN=$2" -keyout "$1.key" -out "$1.csr"
  quietly x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
    -sha256 -days 30 -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}

quietly req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 30 \
  -subj "/O=turbogrpc example/CN=turbogrpc example CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout ca.key -out ca.pem

issue server localhost "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

issue client greeter-client "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectAltName=URI:spiffe://example.test/greeter-client"

chmod 644 ca.pem server.pem client.pem
echo "make_certs: CA, server and client certificates written to $out"
