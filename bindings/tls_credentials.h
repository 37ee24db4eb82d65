// TLS in the seam: credentials material → engine TLS contexts, and the auth contexts servers
// report back. The PEM-to-context work happens here, on the caller's thread, so a bad key or
// certificate raises where the credentials are used, not later on a connection.
#pragma once

#include <nanobind/nanobind.h>

#include <memory>
#include <vector>

#include "turbogrpc/commands.h"
#include "turbogrpc/tls.h"

namespace turbogrpc::binding {

// What Python holds for a built context (plain shared_ptrs: the poller may drop the last copy
// without the GIL).
struct TlsClientHandle {
  std::shared_ptr<const internal::TlsClientContext> context;
};
struct TlsServerHandle {
  std::shared_ptr<const internal::TlsServerContext> context;
};

void register_tls(nanobind::module_& m);

// start_server's `security` argument: one (kind, TlsServerHandle | None, fetch) per listener.
std::vector<ListenerSecurity> listener_security_from(nanobind::handle security);

// A server call's auth context as ((key, value bytes), ...) + (peer identity key or None), or
// None for plaintext. A new reference; null with a Python error set. Cached per context, so
// the calls of one connection share one tuple.
PyObject* auth_context_tuple(const std::shared_ptr<const AuthContext>& auth);

}  // namespace turbogrpc::binding
