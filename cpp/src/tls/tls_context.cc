#include "tls/tls_context.h"

#include "tls/tls_stream.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstring>

namespace turbogrpc::internal {
namespace {

constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};
// Sessions resumed by a client that presented a certificate must be tied to this application.
constexpr unsigned char kSessionIdContext[] = "turbogrpc";

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr pem_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

void wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

// Sets `error` and returns false when OpenSSL refused; `what` names the material.
bool check(bool ok, const char* what, std::string& error) {
  if (!ok) {
    std::string reason = take_openssl_error();
    error = std::string(what) + (reason.empty() ? "" : ": " + reason);
  }
  return ok;
}

bool load_key_pair(SSL_CTX* ctx, const TlsKeyCertPair& pair, std::string& error) {
  BioPtr certs = pem_bio(pair.certificate_chain);
  X509* leaf = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr);
  if (!check(leaf != nullptr, "invalid certificate chain (expected PEM)", error)) return false;
  bool ok = SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  if (!check(ok, "certificate not usable", error)) return false;
  while (X509* extra = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
    if (!check(SSL_CTX_add0_chain_cert(ctx, extra) == 1, "intermediate certificate not usable", error)) {
      X509_free(extra);
      return false;
    }
  }
  ERR_clear_error();  // the end of the PEM list reads as an error
  BioPtr key_bio = pem_bio(pair.private_key);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (!check(key != nullptr, "invalid private key (expected PEM)", error)) return false;
  ok = SSL_CTX_use_PrivateKey(ctx, key) == 1;
  EVP_PKEY_free(key);
  if (!check(ok, "private key does not match the certificate, or is not usable", error)) return false;
  return check(SSL_CTX_check_private_key(ctx) == 1, "private key does not match the certificate", error);
}

// Adds every certificate in `pem` to the context's trust store; false when none parses.
bool load_roots(SSL_CTX* ctx, const std::string& pem, std::string& error, bool client_ca_list) {
  BioPtr bio = pem_bio(pem);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME)* names = client_ca_list ? sk_X509_NAME_new_null() : nullptr;
  int count = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    if (names != nullptr) sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(cert)));
    X509_free(cert);
    ++count;
  }
  ERR_clear_error();
  if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
  if (count == 0) error = "invalid root certificates: no PEM certificate found";
  return count > 0;
}

SslCtxPtr new_context(const SSL_METHOD* method) {
  SslCtxPtr ctx(SSL_CTX_new(method));
  if (!ctx) return ctx;
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Partial writes never happen into a memory BIO; moving buffers keeps a retried write valid.
  // No auto chain: send the chain we were given, not one built from our trust store (which
  // would reveal what we trust, and grpc does not send it either).
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_NO_AUTO_CHAIN);
  return ctx;
}

// Server ALPN: h2 or nothing (gRPC needs HTTP/2; grpc-go refuses too). No overlap sends the
// no_application_protocol alert.
int select_h2(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
              unsigned int in_len, void*) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, out_len, kAlpnH2, sizeof(kAlpnH2), in, in_len) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

int select_by_server_name(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  if (SSL_CTX* ctx = static_cast<const TlsServerContext*>(arg)->for_host(name)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::string take_openssl_error() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "";
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
}

TlsServerContext::TlsServerContext(std::vector<SslCtxPtr> contexts) : contexts_(std::move(contexts)) {
  if (contexts_.size() > 1)
    SSL_CTX_set_tlsext_servername_callback(contexts_.front().get(), select_by_server_name);
  SSL_CTX_set_tlsext_servername_arg(contexts_.front().get(), this);
}

SSL_CTX* TlsServerContext::for_host(const char* host_name) const {
  for (const SslCtxPtr& ctx : contexts_) {
    X509* cert = SSL_CTX_get0_certificate(ctx.get());
    if (cert != nullptr && X509_check_host(cert, host_name, std::strlen(host_name), 0, nullptr) == 1)
      return ctx.get();
  }
  return nullptr;
}

}  // namespace turbogrpc::internal

namespace turbogrpc {
using internal::SslCtxPtr;

TlsContextResult<internal::TlsClientContext> make_tls_client_context(TlsClientConfig& config) {
  TlsContextResult<internal::TlsClientContext> result;
  ERR_clear_error();
  SslCtxPtr ctx = internal::new_context(TLS_client_method());
  bool ok = internal::check(ctx != nullptr, "cannot create a TLS context", result.error);
  if (ok) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_alpn_protos(ctx.get(), internal::kAlpnH2, sizeof(internal::kAlpnH2));
    // Sessions are kept per channel (tls_stream.h), not in the context's own cache.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx.get(), internal::TlsStream::on_new_session);
    ok = config.use_system_roots
             ? internal::check(SSL_CTX_set_default_verify_paths(ctx.get()) == 1,
                               "cannot load the system's trusted certificates", result.error)
             : internal::load_roots(ctx.get(), config.root_certificates, result.error, false);
  }
  bool has_pair = !config.client_pair.private_key.empty() || !config.client_pair.certificate_chain.empty();
  if (ok && has_pair) ok = internal::load_key_pair(ctx.get(), config.client_pair, result.error);
  internal::wipe(config.client_pair.private_key);
  if (ok) result.context = std::make_shared<internal::TlsClientContext>(std::move(ctx));
  return result;
}

TlsContextResult<internal::TlsServerContext> make_tls_server_context(TlsServerConfig& config) {
  TlsContextResult<internal::TlsServerContext> result;
  ERR_clear_error();
  std::vector<SslCtxPtr> contexts;
  bool ok = !config.key_cert_pairs.empty();
  if (!ok) result.error = "at least one private key and certificate chain pair is required";
  if (ok && config.require_client_auth && config.root_certificates.empty()) {
    result.error = "requiring client certificates needs root certificates to verify them";
    ok = false;
  }
  for (size_t i = 0; ok && i < config.key_cert_pairs.size(); ++i) {
    SslCtxPtr ctx = internal::new_context(TLS_server_method());
    ok = internal::check(ctx != nullptr, "cannot create a TLS context", result.error) &&
         internal::load_key_pair(ctx.get(), config.key_cert_pairs[i], result.error);
    if (!ok) break;
    SSL_CTX_set_alpn_select_cb(ctx.get(), internal::select_h2, nullptr);
    SSL_CTX_set_session_id_context(ctx.get(), internal::kSessionIdContext, sizeof(internal::kSessionIdContext) - 1);
    if (config.require_client_auth) {
      ok = internal::load_roots(ctx.get(), config.root_certificates, result.error, true);
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    contexts.push_back(std::move(ctx));
  }
  for (TlsKeyCertPair& pair : config.key_cert_pairs) internal::wipe(pair.private_key);
  if (ok) result.context = std::make_shared<internal::TlsServerContext>(std::move(contexts));
  return result;
}

}  // namespace turbogrpc
