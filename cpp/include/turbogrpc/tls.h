// TLS configuration the binding hands to the engine: PEM material in, checked contexts out.
// Contexts are built on the caller's thread (so a bad key or certificate is reported where the
// credentials are given) and are immutable afterwards; the poller only makes sessions from them.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace turbogrpc {

namespace internal {
class TlsClientContext;
class TlsServerContext;
}  // namespace internal

struct TlsKeyCertPair {
  std::string private_key;        // PEM
  std::string certificate_chain;  // PEM, leaf first
};

struct TlsClientConfig {
  bool use_system_roots = true;   // false: trust only root_certificates
  std::string root_certificates;  // PEM
  TlsKeyCertPair client_pair;     // both empty: no client certificate
};

struct TlsServerConfig {
  std::vector<TlsKeyCertPair> key_cert_pairs;  // the first is the default; others are chosen by SNI
  std::string root_certificates;               // PEM; the CAs client certificates must chain to
  bool require_client_auth = false;            // ask for a client certificate and insist on it
};

template <typename Context>
struct TlsContextResult {
  std::shared_ptr<const Context> context;  // null on failure
  std::string error;                       // what was wrong with the material
};

// The PEM strings in `config` are wiped once loaded (keys live only inside the contexts).
TlsContextResult<internal::TlsClientContext> make_tls_client_context(TlsClientConfig& config);
TlsContextResult<internal::TlsServerContext> make_tls_server_context(TlsServerConfig& config);

// What a server knows of a connection's security, as grpc's auth context: properties by
// grpc's names ("transport_security_type", "x509_common_name", ...), several values per name
// allowed, in order. Immutable once made; shared by every call on the connection.
struct AuthContext {
  std::vector<std::pair<std::string, std::string>> properties;
  std::string peer_identity_property;  // empty: the peer is not authenticated
};

}  // namespace turbogrpc
