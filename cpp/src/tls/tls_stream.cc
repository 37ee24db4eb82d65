#include "tls/tls_stream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <string_view>
#include <vector>

namespace turbogrpc::internal {
namespace {

// Where an SSL finds its TlsStream (for the new-session callback).
int stream_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

bool is_ip_address(const std::string& name) {
  unsigned char buf[16];
  std::string bare = name.size() > 2 && name.front() == '[' ? name.substr(1, name.size() - 2) : name;
  return inet_pton(AF_INET, bare.c_str(), buf) == 1 || inet_pton(AF_INET6, bare.c_str(), buf) == 1;
}

std::string text_of(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  int length = ASN1_STRING_length(ip);
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  if (length == 4) inet_ntop(AF_INET, data, buf, sizeof(buf));
  else if (length == 16) inet_ntop(AF_INET6, data, buf, sizeof(buf));
  return buf;
}

void add_certificate_properties(X509* cert, AuthContext& auth) {
  auto add = [&](const char* name, std::string value) { auth.properties.emplace_back(name, std::move(value)); };
  X509_NAME* subject = X509_get_subject_name(cert);
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, subject, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    add("x509_subject", std::string(data, static_cast<size_t>(n)));
    BIO_free(bio);
  }
  bool has_common_name = false;
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
    add("x509_common_name", text_of(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
    has_common_name = true;
  }
  // Alternative names: all of them, then by type (grpc's peer_dns, peer_uri, ... properties).
  std::vector<std::pair<const char*, std::string>> typed;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) typed.emplace_back("peer_dns", text_of(name->d.ia5));
    else if (name->type == GEN_URI) typed.emplace_back("peer_uri", text_of(name->d.ia5));
    else if (name->type == GEN_EMAIL) typed.emplace_back("peer_email", text_of(name->d.ia5));
    else if (name->type == GEN_IPADD) typed.emplace_back("peer_ip", ip_text(name->d.ip));
  }
  GENERAL_NAMES_free(names);
  for (const auto& [type, value] : typed) add("x509_subject_alternative_name", value);
  for (const char* type : {"peer_dns", "peer_uri", "peer_email", "peer_ip"}) {
    for (const auto& [t, value] : typed) {
      if (std::string_view(t) == type) add(type, value);
    }
  }
  // A SPIFFE identity only when it is the one URI name (grpc's rule).
  int uris = 0;
  std::string spiffe;
  for (const auto& [t, value] : typed) {
    if (std::string_view(t) != "peer_uri") continue;
    ++uris;
    if (value.rfind("spiffe://", 0) == 0) spiffe = value;
  }
  if (uris == 1 && !spiffe.empty()) add("peer_spiffe_id", spiffe);
  bool has_alt_names = !typed.empty();
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    add("x509_pem_cert", std::string(data, static_cast<size_t>(n)));
    BIO_free(bio);
  }
  // grpc's rule: the peer is identified by its alternative names, else by its common name.
  if (has_alt_names) auth.peer_identity_property = "x509_subject_alternative_name";
  else if (has_common_name) auth.peer_identity_property = "x509_common_name";
}

}  // namespace

TlsStream::TlsStream(SSL* ssl, std::shared_ptr<TlsResumption> resumption)
    : ssl_(ssl),
      input_(BIO_new(BIO_s_mem())),
      output_(BIO_new(BIO_s_mem())),
      resumption_(std::move(resumption)) {
  // An empty memory BIO reports "retry", which SSL turns into WANT_READ.
  BIO_set_mem_eof_return(input_, -1);
  SSL_set_bio(ssl_, input_, output_);
  SSL_set_ex_data(ssl_, stream_index(), this);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

std::unique_ptr<TlsStream> TlsStream::client(const TlsClientContext& context, const std::string& server_name,
                                             std::shared_ptr<TlsResumption> resumption) {
  SSL* ssl = SSL_new(context.get());
  if (ssl == nullptr) return nullptr;
  std::unique_ptr<TlsStream> stream(new TlsStream(ssl, std::move(resumption)));
  SSL_set_connect_state(ssl);
  stream->expected_name_ = server_name;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (is_ip_address(server_name)) {
    std::string bare = server_name.front() == '[' ? server_name.substr(1, server_name.size() - 2) : server_name;
    X509_VERIFY_PARAM_set1_ip_asc(param, bare.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, server_name.c_str());
    SSL_set1_host(ssl, server_name.c_str());
  }
  if (stream->resumption_ && stream->resumption_->session) SSL_set_session(ssl, stream->resumption_->session.get());
  return stream;
}

std::unique_ptr<TlsStream> TlsStream::server(const TlsServerContext& context) {
  SSL* ssl = SSL_new(context.get());
  if (ssl == nullptr) return nullptr;
  std::unique_ptr<TlsStream> stream(new TlsStream(ssl, nullptr));
  SSL_set_accept_state(ssl);
  return stream;
}

int TlsStream::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* stream = static_cast<TlsStream*>(SSL_get_ex_data(ssl, stream_index()));
  if (stream == nullptr || !stream->resumption_) return 0;
  stream->resumption_->session.reset(session);
  return 1;  // we keep the reference
}

void TlsStream::put_input(const uint8_t* data, size_t length) {
  BIO_write(input_, data, static_cast<int>(length));
}

TlsStream::Progress TlsStream::handshake() {
  if (done_) return Progress::kDone;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r != 1) {
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Progress::kWaiting;
    error_ = describe_failure(e);
    return Progress::kFailed;
  }
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &protocol, &length);
  if (length != 2 || protocol[0] != 'h' || protocol[1] != '2') {
    error_ = "peer did not negotiate h2 (ALPN), which gRPC requires";
    return Progress::kFailed;
  }
  done_ = true;
  return Progress::kDone;
}

std::string TlsStream::describe_failure(int ssl_error) {
  long verify = SSL_get_verify_result(ssl_);
  std::string reason = take_openssl_error();
  if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
    return "certificate verify failed: hostname mismatch (the certificate does not name '" + expected_name_ + "')";
  if (verify != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  if (!reason.empty()) return reason;
  if (ssl_error == SSL_ERROR_ZERO_RETURN || ssl_error == SSL_ERROR_SYSCALL)
    return "connection closed during the TLS handshake";
  return "TLS error " + std::to_string(ssl_error);
}

TlsStream::ReadResult TlsStream::read(uint8_t* out, size_t capacity, size_t& length) {
  ERR_clear_error();
  int n = SSL_read(ssl_, out, static_cast<int>(capacity));
  if (n > 0) {
    length = static_cast<size_t>(n);
    return ReadResult::kData;
  }
  int e = SSL_get_error(ssl_, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return ReadResult::kNeedMore;
  if (e == SSL_ERROR_ZERO_RETURN) return ReadResult::kClosed;
  error_ = describe_failure(e);
  return ReadResult::kFailed;
}

bool TlsStream::write(const char* data, size_t length) {
  ERR_clear_error();
  while (length > 0) {
    int n = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(length, 1 << 30)));
    if (n <= 0) {
      error_ = describe_failure(SSL_get_error(ssl_, n));
      return false;
    }
    data += n;
    length -= static_cast<size_t>(n);
  }
  return true;
}

bool TlsStream::has_output() const { return BIO_ctrl_pending(output_) > 0; }

void TlsStream::take_output(std::string& out) {
  size_t pending = BIO_ctrl_pending(output_);
  if (pending == 0) return;
  size_t old = out.size();
  out.resize(old + pending);
  int n = BIO_read(output_, out.data() + old, static_cast<int>(pending));
  out.resize(old + static_cast<size_t>(n > 0 ? n : 0));
}

void TlsStream::shut_down() {
  if (!done_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::shared_ptr<const AuthContext> TlsStream::auth_context() const {
  auto auth = std::make_shared<AuthContext>();
  auth->properties.emplace_back("transport_security_type", "ssl");
  auth->properties.emplace_back("security_level", "TSI_PRIVACY_AND_INTEGRITY");
  if (X509* peer = SSL_get1_peer_certificate(ssl_)) {
    add_certificate_properties(peer, *auth);
    X509_free(peer);
  }
  auth->properties.emplace_back("ssl_session_reused", SSL_session_reused(ssl_) ? "true" : "false");
  if (const char* sni = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name))
    auth->properties.emplace_back("ssl_requested_server_name", sni);
  auth->properties.emplace_back("ssl_tls_version", SSL_get_version(ssl_));
  int group = SSL_get_negotiated_group(ssl_);
  if (group != 0) {
    const char* name = OBJ_nid2sn(group & ~TLSEXT_nid_unknown);
    if (name != nullptr) auth->properties.emplace_back("ssl_negotiated_key_exchange_group", name);
  }
  return auth;
}

}  // namespace turbogrpc::internal
