// libFuzzer target for tls/: a server TlsStream fed arbitrary bytes from a "client", in chunks.
// Whatever arrives, the handshake must end in kWaiting or kFailed (never done without a real
// client), nothing may crash or leak, and a failed stream must say why.
//
// Input layout: byte 0 = chunk size (1..256, 0 → all at once); the rest = what the peer sends.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "../tests/tls_test_pki.h"
#include "fuzz_check.h"
#include "tls/tls_stream.h"

namespace {

using turbogrpc::internal::TlsServerContext;
using turbogrpc::internal::TlsStream;

std::shared_ptr<const TlsServerContext> make_context() {
  auto ca = turbogrpc::testing::make_identity("fuzz-ca", "", nullptr);
  auto server = turbogrpc::testing::make_identity("server", "DNS:localhost", &ca);
  turbogrpc::TlsServerConfig config;
  config.key_cert_pairs.push_back({server.key_pem, server.cert_pem});
  config.root_certificates = ca.cert_pem;
  auto result = turbogrpc::make_tls_server_context(config);
  turbogrpc::testing::free_identity(server);
  turbogrpc::testing::free_identity(ca);
  return result.context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto context = make_context();
  FUZZ_CHECK(context != nullptr, "the test certificates load");
  if (size == 0) return 0;
  size_t chunk = data[0] == 0 ? size : data[0];
  ++data;
  --size;
  auto stream = TlsStream::server(*context);
  std::string out;
  for (size_t at = 0; at < size; at += chunk) {
    size_t n = std::min(chunk, size - at);
    stream->put_input(data + at, n);
    TlsStream::Progress p = stream->handshake();
    stream->take_output(out);
    // A real handshake needs our side of the key exchange, which the input cannot fake.
    FUZZ_CHECK(p != TlsStream::Progress::kDone, "handshake finished on fabricated input");
    if (p == TlsStream::Progress::kFailed) {
      FUZZ_CHECK(!stream->error().empty(), "a failed handshake says why");
      break;
    }
  }
  return 0;
}
