// The TLS layer alone: a client and a server TlsStream handshake and exchange data through
// memory (no sockets), with the failures a connection must report.
#include "tls/tls_stream.h"

#include <gtest/gtest.h>

#include "tls_test_pki.h"

namespace turbogrpc::internal {
namespace {

using testing::make_identity;
using testing::TestIdentity;

class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = make_identity("test-ca", "", nullptr);
    other_ca_ = make_identity("other-ca", "", nullptr);
    server_ = make_identity("server", "DNS:localhost,DNS:*.test.example,IP:127.0.0.1", &ca_);
    second_ = make_identity("second", "DNS:second.example", &ca_);
    client_ = make_identity("client-1", "URI:spiffe://test/client-1", &ca_);
    expired_ = make_identity("expired", "DNS:localhost", &ca_, -1);
  }
  void TearDown() override {
    for (TestIdentity* id : {&ca_, &other_ca_, &server_, &second_, &client_, &expired_})
      testing::free_identity(*id);
  }

  std::shared_ptr<const TlsServerContext> server_context(std::vector<const TestIdentity*> ids,
                                                         bool require_client_auth = false) {
    TlsServerConfig config;
    for (const TestIdentity* id : ids) config.key_cert_pairs.push_back({id->key_pem, id->cert_pem});
    config.root_certificates = ca_.cert_pem;
    config.require_client_auth = require_client_auth;
    auto result = make_tls_server_context(config);
    EXPECT_TRUE(result.context) << result.error;
    return result.context;
  }
  std::shared_ptr<const TlsClientContext> client_context(const TestIdentity& trusted,
                                                         const TestIdentity* pair = nullptr) {
    TlsClientConfig config;
    config.use_system_roots = false;
    config.root_certificates = trusted.cert_pem;
    if (pair != nullptr) config.client_pair = {pair->key_pem, pair->cert_pem};
    auto result = make_tls_client_context(config);
    EXPECT_TRUE(result.context) << result.error;
    return result.context;
  }

  // Moves bytes both ways until neither side produces more; returns each side's last progress.
  static std::pair<TlsStream::Progress, TlsStream::Progress> pump(TlsStream& client, TlsStream& server) {
    TlsStream::Progress c = client.handshake(), s = TlsStream::Progress::kWaiting;
    for (int round = 0; round < 20; ++round) {
      std::string to_server, to_client;
      client.take_output(to_server);
      if (!to_server.empty()) {
        server.put_input(reinterpret_cast<const uint8_t*>(to_server.data()), to_server.size());
        s = server.handshake();
      }
      server.take_output(to_client);
      if (!to_client.empty()) {
        client.put_input(reinterpret_cast<const uint8_t*>(to_client.data()), to_client.size());
        c = client.handshake();
      }
      if (to_server.empty() && to_client.empty()) break;
    }
    return {c, s};
  }

  // Sends `text` from `from` to `to` and returns what `to` reads.
  static std::string transfer(TlsStream& from, TlsStream& to, const std::string& text) {
    EXPECT_TRUE(from.write(text.data(), text.size()));
    std::string wire;
    from.take_output(wire);
    to.put_input(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
    std::string got;
    uint8_t buf[4096];
    size_t n = 0;
    while (to.read(buf, sizeof(buf), n) == TlsStream::ReadResult::kData) got.append(reinterpret_cast<char*>(buf), n);
    return got;
  }

  static std::string property(const AuthContext& auth, const std::string& name) {
    for (const auto& [k, v] : auth.properties)
      if (k == name) return v;
    return "<absent>";
  }

  TestIdentity ca_, other_ca_, server_, second_, client_, expired_;
};

TEST_F(TlsStreamTest, HandshakeNegotiatesH2AndCarriesDataBothWays) {
  auto server_ctx = server_context({&server_});
  auto client_ctx = client_context(ca_);
  auto client = TlsStream::client(*client_ctx, "localhost", nullptr);
  auto server = TlsStream::server(*server_ctx);
  auto [c, s] = pump(*client, *server);
  ASSERT_EQ(c, TlsStream::Progress::kDone) << client->error();
  ASSERT_EQ(s, TlsStream::Progress::kDone) << server->error();
  EXPECT_EQ(transfer(*client, *server, "PRI * HTTP/2.0"), "PRI * HTTP/2.0");
  std::string big(200 * 1024, 'x');
  EXPECT_EQ(transfer(*server, *client, big), big);
  auto auth = server->auth_context();
  EXPECT_EQ(property(*auth, "transport_security_type"), "ssl");
  EXPECT_EQ(property(*auth, "x509_common_name"), "<absent>");  // no client certificate
  EXPECT_TRUE(auth->peer_identity_property.empty());
  EXPECT_EQ(property(*auth, "ssl_requested_server_name"), "localhost");
}

TEST_F(TlsStreamTest, Tls12PeersHandshakeToo) {
  auto client_ctx = client_context(ca_);
  SSL_CTX_set_max_proto_version(client_ctx->get(), TLS1_2_VERSION);  // a TLS 1.2-only client
  auto client = TlsStream::client(*client_ctx, "localhost", nullptr);
  auto server = TlsStream::server(*server_context({&server_}));
  auto [c, s] = pump(*client, *server);
  ASSERT_EQ(c, TlsStream::Progress::kDone) << client->error();
  ASSERT_EQ(s, TlsStream::Progress::kDone) << server->error();
  EXPECT_EQ(property(*server->auth_context(), "ssl_tls_version"), "TLSv1.2");
  EXPECT_EQ(transfer(*client, *server, "hello"), "hello");
}

TEST_F(TlsStreamTest, PeerWithoutH2IsRefused) {
  auto server_ctx = server_context({&server_});
  auto http11 = client_context(ca_);
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(http11->get(), kHttp11, sizeof(kHttp11));
  auto client = TlsStream::client(*http11, "localhost", nullptr);
  auto server = TlsStream::server(*server_ctx);
  auto [c, s] = pump(*client, *server);
  EXPECT_EQ(s, TlsStream::Progress::kFailed);
  EXPECT_EQ(c, TlsStream::Progress::kFailed);
  EXPECT_NE(client->error().find("application protocol"), std::string::npos) << client->error();

  auto no_alpn = client_context(ca_);
  SSL_CTX_set_alpn_protos(no_alpn->get(), nullptr, 0);  // offers none at all
  auto client2 = TlsStream::client(*no_alpn, "localhost", nullptr);
  auto server2 = TlsStream::server(*server_ctx);
  auto [c2, s2] = pump(*client2, *server2);
  EXPECT_EQ(c2, TlsStream::Progress::kFailed);
  EXPECT_EQ(s2, TlsStream::Progress::kFailed);
  EXPECT_NE(server2->error().find("did not negotiate h2"), std::string::npos) << server2->error();
}

TEST_F(TlsStreamTest, IpAddressTargetIsCheckedAgainstIpNames) {
  auto client = TlsStream::client(*client_context(ca_), "127.0.0.1", nullptr);
  auto server = TlsStream::server(*server_context({&server_}));
  EXPECT_EQ(pump(*client, *server).first, TlsStream::Progress::kDone) << client->error();
}

TEST_F(TlsStreamTest, UntrustedCertificateFailsWithVerifyReason) {
  auto client = TlsStream::client(*client_context(other_ca_), "localhost", nullptr);
  auto server = TlsStream::server(*server_context({&server_}));
  EXPECT_EQ(pump(*client, *server).first, TlsStream::Progress::kFailed);
  EXPECT_NE(client->error().find("certificate verify failed"), std::string::npos) << client->error();
}

TEST_F(TlsStreamTest, WrongHostNameFailsWithHostnameMismatch) {
  auto client = TlsStream::client(*client_context(ca_), "wrong.example.com", nullptr);
  auto server = TlsStream::server(*server_context({&server_}));
  EXPECT_EQ(pump(*client, *server).first, TlsStream::Progress::kFailed);
  EXPECT_NE(client->error().find("hostname mismatch"), std::string::npos) << client->error();
  EXPECT_NE(client->error().find("wrong.example.com"), std::string::npos) << client->error();
}

TEST_F(TlsStreamTest, ExpiredCertificateFails) {
  auto client = TlsStream::client(*client_context(ca_), "localhost", nullptr);
  auto server = TlsStream::server(*server_context({&expired_}));
  EXPECT_EQ(pump(*client, *server).first, TlsStream::Progress::kFailed);
  EXPECT_NE(client->error().find("expired"), std::string::npos) << client->error();
}

TEST_F(TlsStreamTest, ServerChoosesKeyPairBySni) {
  auto server_ctx = server_context({&server_, &second_});
  auto client = TlsStream::client(*client_context(ca_), "second.example", nullptr);
  auto server = TlsStream::server(*server_ctx);
  EXPECT_EQ(pump(*client, *server).first, TlsStream::Progress::kDone) << client->error();
  auto fallback = TlsStream::client(*client_context(ca_), "localhost", nullptr);
  auto server2 = TlsStream::server(*server_ctx);
  EXPECT_EQ(pump(*fallback, *server2).first, TlsStream::Progress::kDone) << fallback->error();
}

TEST_F(TlsStreamTest, MutualTlsIdentifiesTheClient) {
  auto client = TlsStream::client(*client_context(ca_, &client_), "localhost", nullptr);
  auto server = TlsStream::server(*server_context({&server_}, true));
  auto [c, s] = pump(*client, *server);
  ASSERT_EQ(s, TlsStream::Progress::kDone) << server->error();
  auto auth = server->auth_context();
  EXPECT_EQ(property(*auth, "x509_common_name"), "client-1");
  EXPECT_EQ(property(*auth, "x509_subject_alternative_name"), "spiffe://test/client-1");
  EXPECT_EQ(property(*auth, "peer_spiffe_id"), "spiffe://test/client-1");
  EXPECT_EQ(auth->peer_identity_property, "x509_subject_alternative_name");
}

TEST_F(TlsStreamTest, MutualTlsRefusesAClientWithoutCertificate) {
  auto client = TlsStream::client(*client_context(ca_), "localhost", nullptr);
  auto server = TlsStream::server(*server_context({&server_}, true));
  EXPECT_EQ(pump(*client, *server).second, TlsStream::Progress::kFailed);
  EXPECT_FALSE(server->error().empty());
}

TEST_F(TlsStreamTest, SessionIsResumedWithTheChannelsTicket) {
  auto server_ctx = server_context({&server_});
  auto client_ctx = client_context(ca_);
  auto resumption = std::make_shared<TlsResumption>();
  auto first = TlsStream::client(*client_ctx, "localhost", resumption);
  auto server1 = TlsStream::server(*server_ctx);
  ASSERT_EQ(pump(*first, *server1).first, TlsStream::Progress::kDone);
  transfer(*server1, *first, "settings");  // TLS 1.3 tickets arrive after the handshake
  ASSERT_TRUE(resumption->session);
  auto second = TlsStream::client(*client_ctx, "localhost", resumption);
  auto server2 = TlsStream::server(*server_ctx);
  ASSERT_EQ(pump(*second, *server2).second, TlsStream::Progress::kDone);
  EXPECT_EQ(property(*server2->auth_context(), "ssl_session_reused"), "true");
  EXPECT_EQ(property(*server1->auth_context(), "ssl_session_reused"), "false");
}

TEST_F(TlsStreamTest, GarbageFromThePeerFailsWithoutCrashing) {
  auto server = TlsStream::server(*server_context({&server_}));
  std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  server->put_input(reinterpret_cast<const uint8_t*>(preface.data()), preface.size());
  EXPECT_EQ(server->handshake(), TlsStream::Progress::kFailed);
  EXPECT_FALSE(server->error().empty());
}

TEST(TlsContextTest, BadMaterialIsReportedAtCreation) {
  auto ca = testing::make_identity("ca", "", nullptr);
  auto other = testing::make_identity("other", "", nullptr);
  TlsServerConfig mismatched;
  mismatched.key_cert_pairs.push_back({other.key_pem, ca.cert_pem});
  auto r1 = make_tls_server_context(mismatched);
  EXPECT_FALSE(r1.context);
  EXPECT_NE(r1.error.find("does not match"), std::string::npos) << r1.error;
  TlsServerConfig empty;
  EXPECT_FALSE(make_tls_server_context(empty).context);
  TlsServerConfig garbage;
  garbage.key_cert_pairs.push_back({"not a key", "not a cert"});
  auto r3 = make_tls_server_context(garbage);
  EXPECT_NE(r3.error.find("certificate chain"), std::string::npos) << r3.error;
  TlsClientConfig bad_roots;
  bad_roots.use_system_roots = false;
  bad_roots.root_certificates = "junk";
  EXPECT_NE(make_tls_client_context(bad_roots).error.find("root certificates"), std::string::npos);
  TlsServerConfig needs_roots;
  needs_roots.key_cert_pairs.push_back({ca.key_pem, ca.cert_pem});
  needs_roots.require_client_auth = true;
  EXPECT_NE(make_tls_server_context(needs_roots).error.find("root certificates"), std::string::npos);
  testing::free_identity(ca);
  testing::free_identity(other);
}

}  // namespace
}  // namespace turbogrpc::internal
