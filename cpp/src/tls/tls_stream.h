// TlsStream: one connection's TLS session over memory buffers. The connection feeds it what the
// socket delivered and sends what it produced, so TLS never touches the socket: the handshake
// advances with socket readiness, and encrypted output leaves in the connection's one write per
// poller iteration. Poller thread only.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "tls/tls_context.h"
#include "turbogrpc/tls.h"

namespace turbogrpc::internal {

struct SslSessionDeleter {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
// A client's last session with its server, for resumption; one per channel.
struct TlsResumption {
  std::unique_ptr<SSL_SESSION, SslSessionDeleter> session;
};

class TlsStream {
 public:
  enum class Progress : uint8_t {
    kWaiting,  // needs more bytes from the peer (send what take_output() gives first)
    kDone,     // handshake complete, h2 negotiated
    kFailed,   // error() says why
  };
  enum class ReadResult : uint8_t { kData, kNeedMore, kClosed, kFailed };

  // `server_name`: SNI (unless an IP address) and the name the certificate must match.
  // `resumption` (may be null) supplies a session to resume and receives new ones.
  static std::unique_ptr<TlsStream> client(const TlsClientContext& context, const std::string& server_name,
                                           std::shared_ptr<TlsResumption> resumption);
  static std::unique_ptr<TlsStream> server(const TlsServerContext& context);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Ciphertext the socket delivered.
  void put_input(const uint8_t* data, size_t length);
  Progress handshake();
  // Up to `capacity` bytes of plaintext into `out` (`length` set when kData).
  ReadResult read(uint8_t* out, size_t capacity, size_t& length);
  // Encrypts all of `data` (a memory BIO never blocks); false when the session has failed.
  bool write(const char* data, size_t length);
  // Appends what is ready for the socket (handshake records, data, alerts) to `out`.
  void take_output(std::string& out);
  bool has_output() const;
  // Queues close_notify (if the handshake finished) for take_output().
  void shut_down();

  bool handshake_done() const { return done_; }
  const std::string& error() const { return error_; }
  // The server's view of the client (or the client's of the server), for auth contexts.
  std::shared_ptr<const AuthContext> auth_context() const;

  // The client contexts' new-session callback: keeps the session for the stream's channel.
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

 private:
  TlsStream(SSL* ssl, std::shared_ptr<TlsResumption> resumption);
  std::string describe_failure(int ssl_error);

  SSL* ssl_;    // owns both memory BIOs
  BIO* input_;  // ciphertext from the peer (owned by ssl_)
  BIO* output_; // ciphertext for the peer (owned by ssl_)
  std::shared_ptr<TlsResumption> resumption_;
  std::string expected_name_;  // client: for the error message on a mismatch
  std::string error_;
  bool done_ = false;
};

}  // namespace turbogrpc::internal
