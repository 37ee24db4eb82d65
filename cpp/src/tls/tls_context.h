// TLS contexts: one OpenSSL SSL_CTX set up for gRPC (TLS 1.2+, ALPN "h2" only, verification),
// made once from PEM material and shared, read-only, by every connection that uses it.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "turbogrpc/tls.h"

namespace turbogrpc::internal {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// The text of the most recent OpenSSL error on this thread ("" when none), and clears the queue.
std::string take_openssl_error();

class TlsClientContext {
 public:
  explicit TlsClientContext(SslCtxPtr ctx) : ctx_(std::move(ctx)) {}
  SSL_CTX* get() const { return ctx_.get(); }

 private:
  SslCtxPtr ctx_;
};

class TlsServerContext {
 public:
  explicit TlsServerContext(std::vector<SslCtxPtr> contexts);
  // The context a new connection starts with; SNI may switch it to another (see tls_context.cc).
  SSL_CTX* get() const { return contexts_.front().get(); }
  // The context whose certificate covers `host_name`, or null when none does.
  SSL_CTX* for_host(const char* host_name) const;

 private:
  std::vector<SslCtxPtr> contexts_;  // one per key pair; immutable after construction
};

}  // namespace turbogrpc::internal
