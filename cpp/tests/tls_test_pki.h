// Test PKI made in memory with OpenSSL (no files, nothing checked in): a CA and certificates it
// signs, as PEM strings. For the TLS layer's tests only.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <string>

namespace turbogrpc::testing {

struct TestIdentity {
  std::string key_pem;
  std::string cert_pem;
  EVP_PKEY* key = nullptr;  // owned; kept to sign further certificates (CA)
  X509* cert = nullptr;     // owned
};

inline std::string pem_of_key(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

inline std::string pem_of_cert(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

// `alt_names`: e.g. "DNS:localhost,IP:127.0.0.1" (empty: none). `issuer` null: self-signed CA.
// `valid_days` negative: expired that many days ago.
inline TestIdentity make_identity(const std::string& common_name, const std::string& alt_names,
                                  const TestIdentity* issuer, int valid_days = 30) {
  TestIdentity id;
  id.key = EVP_EC_gen("P-256");
  id.cert = X509_new();
  X509_set_version(id.cert, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(id.cert), serial++);
  if (valid_days >= 0) {
    X509_gmtime_adj(X509_getm_notBefore(id.cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(id.cert), 60L * 60 * 24 * valid_days);
  } else {
    X509_gmtime_adj(X509_getm_notBefore(id.cert), 60L * 60 * 24 * (valid_days - 30));
    X509_gmtime_adj(X509_getm_notAfter(id.cert), 60L * 60 * 24 * valid_days);
  }
  X509_set_pubkey(id.cert, id.key);
  X509_NAME* name = X509_get_subject_name(id.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(id.cert, issuer != nullptr ? X509_get_subject_name(issuer->cert) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->cert : id.cert, id.cert, nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(id.cert, ext, -1);
    X509_EXTENSION_free(ext);
  };
  if (issuer == nullptr) {
    add_ext(NID_basic_constraints, "critical,CA:TRUE");
    add_ext(NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  if (!alt_names.empty()) add_ext(NID_subject_alt_name, alt_names.c_str());
  X509_sign(id.cert, issuer != nullptr ? issuer->key : id.key, EVP_sha256());
  id.key_pem = pem_of_key(id.key);
  id.cert_pem = pem_of_cert(id.cert);
  return id;
}

inline void free_identity(TestIdentity& id) {
  EVP_PKEY_free(id.key);
  X509_free(id.cert);
  id.key = nullptr;
  id.cert = nullptr;
}

}  // namespace turbogrpc::testing
