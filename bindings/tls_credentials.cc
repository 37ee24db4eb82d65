#include "tls_credentials.h"

#include <nanobind/stl/string.h>

#include <unordered_map>

namespace nb = nanobind;

namespace turbogrpc::binding {
namespace {

std::string pem_of(nb::handle value, const char* what) {
  if (value.is_none()) return {};
  if (PyBytes_Check(value.ptr()))
    return std::string(PyBytes_AS_STRING(value.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(value.ptr())));
  throw nb::type_error((std::string(what) + " must be bytes (PEM)").c_str());
}

[[noreturn]] void raise_value_error(const std::string& message) { throw nb::value_error(message.c_str()); }

struct CachedAuth {
  std::shared_ptr<const AuthContext> keep;  // keeps the key's address from being reused
  nb::object tuple;
};
// GIL-guarded; bounded (cleared when full: a connection rebuilds its tuple once).
std::unordered_map<const AuthContext*, CachedAuth>& auth_cache() {
  static auto* cache = new std::unordered_map<const AuthContext*, CachedAuth>();  // never freed: outlives interpreter teardown
  return *cache;
}
constexpr size_t kMaxCachedAuth = 256;

nb::object build_auth_tuple(const AuthContext& auth) {
  nb::list properties;
  for (const auto& [key, value] : auth.properties)
    properties.append(nb::make_tuple(nb::str(key.c_str()), nb::bytes(value.data(), value.size())));
  nb::object identity = nb::none();
  if (!auth.peer_identity_property.empty()) identity = nb::str(auth.peer_identity_property.c_str());
  return nb::make_tuple(nb::tuple(properties), identity);
}

}  // namespace

PyObject* auth_context_tuple(const std::shared_ptr<const AuthContext>& auth) {
  if (!auth) Py_RETURN_NONE;
  try {
    auto& cache = auth_cache();
    auto it = cache.find(auth.get());
    if (it == cache.end()) {
      if (cache.size() >= kMaxCachedAuth) cache.clear();
      it = cache.emplace(auth.get(), CachedAuth{auth, build_auth_tuple(*auth)}).first;
    }
    return Py_NewRef(it->second.tuple.ptr());
  } catch (nb::python_error& e) {
    e.restore();
    return nullptr;
  }
}

std::vector<ListenerSecurity> listener_security_from(nb::handle security) {
  std::vector<ListenerSecurity> out;
  if (security.is_none()) return out;
  for (nb::handle item : security) {
    nb::tuple entry = nb::cast<nb::tuple>(item);
    ListenerSecurity s;
    int kind = nb::cast<int>(entry[0]);
    if (kind < 0 || kind > static_cast<int>(ListenerSecurity::Kind::kLocalTcp))
      raise_value_error("unknown listener security kind " + std::to_string(kind));
    s.kind = static_cast<ListenerSecurity::Kind>(kind);
    if (!entry[1].is_none()) s.tls = nb::cast<TlsServerHandle&>(entry[1]).context;
    s.fetch_certificates = nb::cast<bool>(entry[2]);
    if (s.kind == ListenerSecurity::Kind::kTls && !s.tls) raise_value_error("a TLS listener needs certificates");
    out.push_back(std::move(s));
  }
  return out;
}

void register_tls(nb::module_& m) {
  nb::class_<TlsClientHandle>(m, "TlsClientContext");
  nb::class_<TlsServerHandle>(m, "TlsServerContext");

  m.def("tls_client_context", [](nb::handle root_certificates, nb::handle private_key, nb::handle certificate_chain) {
    TlsClientConfig config;
    config.use_system_roots = root_certificates.is_none();
    config.root_certificates = pem_of(root_certificates, "root_certificates");
    config.client_pair.private_key = pem_of(private_key, "private_key");
    config.client_pair.certificate_chain = pem_of(certificate_chain, "certificate_chain");
    auto result = make_tls_client_context(config);
    if (!result.context) raise_value_error("ssl_channel_credentials: " + result.error);
    return TlsClientHandle{std::move(result.context)};
  }, nb::arg("root_certificates").none(), nb::arg("private_key").none(), nb::arg("certificate_chain").none());

  m.def("tls_server_context", [](nb::handle pairs, nb::handle root_certificates, bool require_client_auth) {
    TlsServerConfig config;
    for (nb::handle item : pairs) {
      nb::tuple pair = nb::cast<nb::tuple>(item);
      config.key_cert_pairs.push_back({pem_of(pair[0], "private key"), pem_of(pair[1], "certificate chain")});
    }
    config.root_certificates = pem_of(root_certificates, "root_certificates");
    config.require_client_auth = require_client_auth;
    auto result = make_tls_server_context(config);
    if (!result.context) raise_value_error("ssl_server_credentials: " + result.error);
    return TlsServerHandle{std::move(result.context)};
  }, nb::arg("pairs"), nb::arg("root_certificates").none(), nb::arg("require_client_auth"));
}

}  // namespace turbogrpc::binding
