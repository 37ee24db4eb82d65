// turbogrpc._engine: the seam between Python and the engine (docs/seam.md). Converts Python
// values to commands and events to tuples; nothing else. Every function runs with the GIL held
// and returns at once, except the two waits for blocking callers (CompletionQueue.wait,
// take_traces), which release it.
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>

#include "codec/metadata_rules.h"
#include "io/trace.h"
#include "received_message.h"
#include "service_config.h"
#include "targets.h"
#include "tls_credentials.h"
#include "turbogrpc/engine.h"
#include "turbogrpc/message_buffers.h"

namespace nb = nanobind;
using namespace turbogrpc;

namespace {

Engine& engine() { return Engine::instance(); }

// What Python holds: a plain C++ shared_ptr inside. The engine keeps copies of `queue`, so the
// poller thread may drop the last reference without ever touching a Python object (a nanobind
// shared_ptr holder would take the GIL in its deleter — the deadlock docs/concurrency.md,
// "Threads", forbids).
struct PyCompletionQueue {
  std::shared_ptr<CompletionQueue> queue = std::make_shared<CompletionQueue>();
};

// A channel's connectivity state as the poller publishes it: read without a crossing.
struct PyChannelState {
  std::shared_ptr<ChannelStateCell> cell = std::make_shared<ChannelStateCell>();
};

// Any buffer-protocol object (bytes, bytearray, memoryview, ...) copied into a std::string.
// Large ones go into a recycled buffer (turbogrpc/message_buffers.h).
std::string bytes_of(PyObject* obj, const char* what) {
  auto copy = [](const void* data, Py_ssize_t size) {
    std::string out = take_message_buffer(static_cast<size_t>(size));
    out.assign(static_cast<const char*>(data), static_cast<size_t>(size));
    return out;
  };
  if (PyBytes_Check(obj)) return copy(PyBytes_AS_STRING(obj), PyBytes_GET_SIZE(obj));
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    throw nb::type_error((std::string(what) + " must be bytes or a buffer, not " + Py_TYPE(obj)->tp_name).c_str());
  }
  std::string out = copy(view.buf, view.len);
  PyBuffer_Release(&view);
  return out;
}

std::string str_of(PyObject* obj, const char* what) {
  if (!PyUnicode_Check(obj))
    throw nb::type_error((std::string(what) + " must be str, not " + Py_TYPE(obj)->tp_name).c_str());
  Py_ssize_t n;
  const char* s = PyUnicode_AsUTF8AndSize(obj, &n);
  if (s == nullptr) throw nb::python_error();
  return std::string(s, static_cast<size_t>(n));
}

Metadata metadata_from(nb::handle seq) {
  Metadata out;
  if (seq.is_none()) return out;
  PyObject* fast = PySequence_Fast(seq.ptr(), "metadata must be a sequence of (key, value) pairs");
  if (fast == nullptr) throw nb::python_error();
  nb::object guard = nb::steal(fast);
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  out.reserve(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(fast, i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
      nb::object pair = nb::steal(PySequence_Tuple(item));
      if (!pair.is_valid() || PyTuple_GET_SIZE(pair.ptr()) != 2)
        throw nb::value_error("metadata entries must be (key, value) pairs");
      item = pair.ptr();
    }
    std::string key = str_of(PyTuple_GET_ITEM(item, 0), "metadata key");
    internal::KeyProblem problem = internal::check_metadata_key(key);
    if (problem != internal::KeyProblem::kNone)
      throw nb::value_error(("metadata key '" + key + "': " + internal::describe(problem)).c_str());
    PyObject* value = PyTuple_GET_ITEM(item, 1);
    std::string v;
    if (internal::is_binary_key(key)) {
      v = PyUnicode_Check(value) ? str_of(value, "metadata value") : bytes_of(value, "binary metadata value");
    } else {
      if (!PyUnicode_Check(value))
        throw nb::value_error(("metadata value for '" + key + "' must be str (only keys ending in -bin take bytes)").c_str());
      v = str_of(value, "metadata value");
      if (!internal::is_valid_ascii_value(v))
        throw nb::value_error(("metadata value for '" + key + "' must be printable ASCII; use a '-bin' key for other bytes").c_str());
    }
    out.emplace_back(std::move(key), std::move(v));
  }
  return out;
}

PyObject* new_str(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  return o;
}

PyObject* new_bytes(const std::string& s) {
  return PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
}

// Builds a tuple from new references, stealing them. Any of them null (a failed allocation), or
// the tuple itself failing: returns null with the Python error set, and releases the others.
template <typename... T>
PyObject* tuple_of(T... items) {
  PyObject* array[] = {items...};
  bool complete = true;
  for (PyObject* o : array) complete = complete && o != nullptr;
  PyObject* t = complete ? PyTuple_New(sizeof...(items)) : nullptr;
  if (t == nullptr) {
    for (PyObject* o : array) Py_XDECREF(o);
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < static_cast<Py_ssize_t>(sizeof...(items)); ++i) PyTuple_SET_ITEM(t, i, array[i]);
  return t;
}

PyObject* metadata_tuple(const Metadata& md) {
  PyObject* t = PyTuple_New(static_cast<Py_ssize_t>(md.size()));
  if (t == nullptr) return nullptr;
  for (size_t i = 0; i < md.size(); ++i) {
    const auto& [k, v] = md[i];
    PyObject* value = internal::is_binary_key(k)
                          ? new_bytes(v)
                          : PyUnicode_DecodeLatin1(v.data(), static_cast<Py_ssize_t>(v.size()), nullptr);
    PyObject* pair = tuple_of(new_str(k), value);
    if (pair == nullptr) {
      Py_DECREF(t);  // the items not yet set are null, which tuple deallocation skips
      return nullptr;
    }
    PyTuple_SET_ITEM(t, static_cast<Py_ssize_t>(i), pair);
  }
  return t;
}

// A received message: bytes, or a view of the engine's buffer when large (received_message.h).
PyObject* optional_bytes(std::optional<std::string>& m) {
  if (!m) Py_RETURN_NONE;
  return binding::received_message(std::move(*m));
}


PyObject* py_int(uint64_t v) { return PyLong_FromUnsignedLongLong(v); }
PyObject* py_code(const Status& s) { return PyLong_FromLong(static_cast<long>(s.code)); }

// Null (with the Python error set) when an allocation failed.
PyObject* event_tuple(Event& e) {
  PyObject* kind = PyLong_FromLong(static_cast<long>(e.kind));
  switch (e.kind) {
    case EventKind::kUnaryDone:
      return tuple_of(kind, py_int(e.call_id), py_code(e.status), new_str(e.status.details),
                      metadata_tuple(e.initial_metadata), metadata_tuple(e.trailing_metadata),
                      optional_bytes(e.message), new_str(e.debug_error), PyBool_FromLong(e.message_compressed));
    case EventKind::kInitialMetadata:
      return tuple_of(kind, py_int(e.call_id), metadata_tuple(e.initial_metadata));
    case EventKind::kMessage:
      return tuple_of(kind, py_int(e.call_id), optional_bytes(e.message), PyBool_FromLong(e.message_compressed));
    case EventKind::kWriteDone:
      return tuple_of(kind, py_int(e.call_id), PyBool_FromLong(e.ok));
    case EventKind::kFinished: {
      PyObject* initial = e.initial_metadata_included ? metadata_tuple(e.initial_metadata) : Py_NewRef(Py_None);
      return tuple_of(kind, py_int(e.call_id), py_code(e.status), new_str(e.status.details),
                      metadata_tuple(e.trailing_metadata), initial, new_str(e.debug_error));
    }
    case EventKind::kServerCall: {
      PyObject* timeout = e.timeout_seconds >= 0 ? PyFloat_FromDouble(e.timeout_seconds) : Py_NewRef(Py_None);
      return tuple_of(kind, py_int(e.call_id), py_int(e.server_id), new_str(e.method),
                      metadata_tuple(e.initial_metadata), timeout, new_str(e.peer), new_str(e.authority),
                      PyBool_FromLong(e.request_preread), optional_bytes(e.message),
                      PyBool_FromLong(e.message_compressed), binding::auth_context_tuple(e.auth));
    }
    case EventKind::kCertificateFetch:
      return tuple_of(kind, py_int(0), py_int(e.server_id), PyLong_FromUnsignedLong(e.listener));
    case EventKind::kServerDone:
      return tuple_of(kind, py_int(e.call_id), py_code(e.status), new_str(e.status.details));
    case EventKind::kConnectivity:
      return tuple_of(kind, py_int(e.call_id), PyLong_FromLong(static_cast<long>(e.connectivity)));
  }
  Py_RETURN_NONE;
}

nb::list drain(CompletionQueue& cq) {
  std::vector<Event> events = cq.drain();
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(events.size()));
  if (list == nullptr) throw nb::python_error();
  for (size_t i = 0; i < events.size(); ++i) {
    PyObject* item = event_tuple(events[i]);
    if (item == nullptr) {
      Py_DECREF(list);
      throw nb::python_error();  // MemoryError, raised where the loop drains, not a segfault
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
  }
  return nb::steal<nb::list>(list);
}

LbPolicy lb_policy_from(const std::string& name) {
  if (name == "pick_first") return LbPolicy::kPickFirst;
  if (name == "round_robin") return LbPolicy::kRoundRobin;
  throw nb::value_error(("unknown load-balancing policy '" + name + "' (pick_first, round_robin)").c_str());
}

LocalConnection local_connection_from(const std::string& kind) {
  if (kind == "uds") return LocalConnection::kUds;
  if (kind == "local_tcp") return LocalConnection::kLoopbackTcp;
  throw nb::value_error(("unknown local connection type '" + kind + "' (uds, local_tcp)").c_str());
}

template <typename Options>
void read_limits(nb::dict options, Options& out) {
  for (auto [k, v] : options) {
    std::string key = nb::cast<std::string>(k);
    if (key == "max_receive_message_length") out.max_receive_message_length = nb::cast<int64_t>(v);
    else if (key == "max_send_message_length") out.max_send_message_length = nb::cast<int64_t>(v);
    else if (key == "max_metadata_size") out.max_metadata_size = nb::cast<int64_t>(v);
    else if (key == "absolute_max_metadata_size") out.absolute_max_metadata_size = nb::cast<int64_t>(v);
    else if constexpr (std::is_same_v<Options, ChannelOptions>) {
      if (key == "authority") out.authority = nb::cast<std::string>(v);
      else if (key == "user_agent") out.user_agent = nb::cast<std::string>(v);
      else if (key == "tls_server_name") out.tls_server_name = nb::cast<std::string>(v);
      else if (key == "initial_reconnect_backoff_ms") out.initial_reconnect_backoff_ms = nb::cast<int64_t>(v);
      else if (key == "min_reconnect_backoff_ms") out.min_reconnect_backoff_ms = nb::cast<int64_t>(v);
      else if (key == "max_reconnect_backoff_ms") out.max_reconnect_backoff_ms = nb::cast<int64_t>(v);
      else if (key == "idle_timeout_ms") out.idle_timeout_ms = nb::cast<int64_t>(v);
      else if (key == "keepalive_time_ms") out.keepalive_time_ms = nb::cast<int64_t>(v);
      else if (key == "keepalive_timeout_ms") out.keepalive_timeout_ms = nb::cast<int64_t>(v);
      else if (key == "keepalive_permit_without_calls") out.keepalive_permit_without_calls = nb::cast<int64_t>(v) != 0;
      else if (key == "max_pings_without_data") out.max_pings_without_data = nb::cast<int64_t>(v);
      else if (key == "service_config") out.service_config = binding::service_config_from(v);
      else if (key == "min_time_between_resolutions_ms") out.min_time_between_resolutions_ms = nb::cast<int64_t>(v);
      else if (key == "enable_retries") out.enable_retries = nb::cast<int64_t>(v) != 0;
      else if (key == "per_rpc_retry_buffer_size") out.per_rpc_retry_buffer_size = nb::cast<int64_t>(v);
      else if (key == "lb_policy") out.lb_policy = lb_policy_from(nb::cast<std::string>(v));
      else if (key == "shuffle_address_list") out.shuffle_address_list = nb::cast<int64_t>(v) != 0;
      else if (key == "happy_eyeballs_delay_ms") out.happy_eyeballs_delay_ms = nb::cast<int64_t>(v);
      else if (key == "health_check_service") out.health_check_service = nb::cast<std::string>(v);
      else if (key == "local_connection") out.local_connection = local_connection_from(nb::cast<std::string>(v));
      else if (key == "retry_buffer_size") out.retry_buffer_size = nb::cast<int64_t>(v);
    } else {
      if (key == "max_concurrent_streams") out.max_concurrent_streams = nb::cast<int64_t>(v);
      else if (key == "handshake_timeout_ms") out.handshake_timeout_ms = nb::cast<int64_t>(v);
      else if (key == "max_connection_idle_ms") out.max_connection_idle_ms = nb::cast<int64_t>(v);
      else if (key == "max_connection_age_ms") out.max_connection_age_ms = nb::cast<int64_t>(v);
      else if (key == "max_connection_age_grace_ms") out.max_connection_age_grace_ms = nb::cast<int64_t>(v);
      else if (key == "keepalive_time_ms") out.keepalive_time_ms = nb::cast<int64_t>(v);
      else if (key == "keepalive_timeout_ms") out.keepalive_timeout_ms = nb::cast<int64_t>(v);
      else if (key == "keepalive_permit_without_calls") out.keepalive_permit_without_calls = nb::cast<int64_t>(v) != 0;
      else if (key == "min_ping_interval_without_data_ms") out.min_ping_interval_without_data_ms = nb::cast<int64_t>(v);
      else if (key == "max_ping_strikes") out.max_ping_strikes = nb::cast<int64_t>(v);
      else if (key == "enabled_compression") out.enabled_compression = static_cast<uint8_t>(nb::cast<int64_t>(v) & 0b111);
    }
  }
}

Compression compression_of(int value) {
  if (value < 0 || value > static_cast<int>(Compression::kGzip))
    throw nb::value_error(("unknown compression algorithm " + std::to_string(value) +
                           " (expected 0 = none, 1 = deflate, 2 = gzip)").c_str());
  return static_cast<Compression>(value);
}

double timeout_of(nb::handle timeout) {
  if (timeout.is_none()) return -1;
  double t = nb::cast<double>(timeout);
  if (std::isnan(t)) throw nb::value_error("timeout is NaN: give a number of seconds, or None for no deadline");
  return t < 0 ? 0 : t;  // a passed deadline; +inf and huge values mean none (rpc/deadline.h)
}

uint64_t start_call(uint64_t channel_id, std::shared_ptr<CompletionQueue> cq, std::string method,
                    nb::handle metadata, std::optional<std::string> request, nb::handle timeout,
                    nb::handle wait_for_ready, int compression, bool awaits_metadata) {
  StartCallCommand c;
  c.call_id = Engine::next_id();
  c.channel_id = channel_id;
  c.cq = std::move(cq);
  c.method = std::move(method);
  c.metadata = metadata_from(metadata);
  c.timeout_seconds = timeout_of(timeout);
  // None: the call did not say (the method's service config may).
  c.wait_for_ready = wait_for_ready.is_none() ? WaitForReady::kDefault
                     : PyObject_IsTrue(wait_for_ready.ptr()) ? WaitForReady::kYes
                                                              : WaitForReady::kNo;
  c.shape = request ? CallShape::kUnary : CallShape::kStreaming;
  c.message = std::move(request);
  c.compression = compression_of(compression);
  c.awaits_metadata = awaits_metadata;
  uint64_t id = c.call_id;
  engine().submit(std::move(c));
  return id;
}

}  // namespace

NB_MODULE(_engine, m) {
  // Completion queues held by module-level state can outlive the interpreter's teardown order,
  // which nanobind reports as leaks; TURBOGRPC_LEAK_WARNINGS=1 turns the report on (tests do).
  const char* leak_warnings = std::getenv("TURBOGRPC_LEAK_WARNINGS");
  nb::set_leak_warnings(leak_warnings != nullptr && std::string(leak_warnings) == "1");
  if (!binding::init_received_messages()) throw nb::python_error();
  m.attr("UNARY_DONE") = static_cast<int>(EventKind::kUnaryDone);
  m.attr("INITIAL_METADATA") = static_cast<int>(EventKind::kInitialMetadata);
  m.attr("MESSAGE") = static_cast<int>(EventKind::kMessage);
  m.attr("WRITE_DONE") = static_cast<int>(EventKind::kWriteDone);
  m.attr("FINISHED") = static_cast<int>(EventKind::kFinished);
  m.attr("SERVER_CALL") = static_cast<int>(EventKind::kServerCall);
  m.attr("SERVER_DONE") = static_cast<int>(EventKind::kServerDone);
  m.attr("CERTIFICATE_FETCH") = static_cast<int>(EventKind::kCertificateFetch);
  m.attr("CONNECTIVITY") = static_cast<int>(EventKind::kConnectivity);
  binding::register_tls(m);
  binding::register_targets(m);

  nb::class_<PyChannelState>(m, "ChannelState")
      .def("get", [](PyChannelState& s) { return static_cast<int>(s.cell->state.load()); });

  nb::class_<PyCompletionQueue>(m, "CompletionQueue")
      .def(nb::init<>())
      .def_prop_ro("fd", [](PyCompletionQueue& q) { return q.queue->fd(); })
      .def("drain", [](PyCompletionQueue& q) { return drain(*q.queue); })
      // For blocking callers: waits up to timeout_ms (< 0: forever) for the queue's eventfd with
      // the GIL released, then drains (an empty list when the time is up). A signal (Ctrl-C)
      // ends the wait: its Python handler runs here, and what it raises (KeyboardInterrupt)
      // comes out of wait().
      .def("wait", [](PyCompletionQueue& q, int64_t timeout_ms) {
        int ready = 0;
        int error = 0;
        {
          nb::gil_scoped_release release;
          pollfd watched{q.queue->fd(), POLLIN, 0};
          int wait_ms = timeout_ms < 0 ? -1 : static_cast<int>(std::min<int64_t>(timeout_ms, INT32_MAX));
          ready = ::poll(&watched, 1, wait_ms);
          if (ready < 0) error = errno;
        }
        if (ready < 0 && error == EINTR && PyErr_CheckSignals() != 0) throw nb::python_error();
        return drain(*q.queue);
      }, nb::arg("timeout_ms"))
      .def("wake", [](PyCompletionQueue& q) { q.queue->wake(); });

  m.def("next_id", [] { return Engine::next_id(); });
  m.def("generation", [] { return Engine::generation(); });

  // Returns (channel id, its ChannelState).
  m.def("create_channel", [](std::string target, nb::dict options, binding::TlsClientHandle* tls) {
    CreateChannelCommand c;
    c.channel_id = Engine::next_id();
    c.target = std::move(target);
    read_limits(options, c.options);
    if (tls != nullptr) c.options.tls = tls->context;
    PyChannelState state;
    c.state = state.cell;
    uint64_t id = c.channel_id;
    engine().submit(std::move(c));
    return std::make_pair(id, state);
  }, nb::arg("target"), nb::arg("options"), nb::arg("tls").none() = nb::none());
  m.def("close_channel", [](uint64_t id) { engine().submit(CloseChannelCommand{id}); });
  m.def("connect_channel", [](uint64_t id) { engine().submit(ConnectChannelCommand{id}); },
        nb::arg("channel_id"));
  // One CONNECTIVITY event (token, state) on `cq` once the state is not `last_seen`.
  m.def("watch_channel", [](uint64_t id, PyCompletionQueue& cq, uint64_t token, int last_seen) {
    if (last_seen < 0 || last_seen > static_cast<int>(ConnectivityState::kShutdown))
      throw nb::value_error("last_seen must be a connectivity state (0 to 4)");
    engine().submit(WatchChannelCommand{id, cq.queue, token, static_cast<ConnectivityState>(last_seen)});
  }, nb::arg("channel_id"), nb::arg("cq"), nb::arg("token"), nb::arg("last_seen"));

  m.def("unary_call", [](uint64_t channel_id, PyCompletionQueue& cq, std::string method,
                         nb::handle metadata, nb::handle request, nb::handle timeout, nb::handle wait_for_ready,
                         int compression, bool awaits_metadata) {
    return start_call(channel_id, cq.queue, std::move(method), metadata,
                      bytes_of(request.ptr(), "request"), timeout, wait_for_ready, compression,
                      awaits_metadata);
  }, nb::arg("channel_id"), nb::arg("cq"), nb::arg("method"), nb::arg("metadata").none(),
     nb::arg("request"), nb::arg("timeout").none(), nb::arg("wait_for_ready").none(), nb::arg("compression") = 0,
     nb::arg("awaits_metadata") = false);
  m.def("stream_call", [](uint64_t channel_id, PyCompletionQueue& cq, std::string method,
                          nb::handle metadata, nb::handle timeout, nb::handle wait_for_ready, int compression,
                          bool awaits_metadata) {
    return start_call(channel_id, cq.queue, std::move(method), metadata, std::nullopt, timeout,
                      wait_for_ready, compression, awaits_metadata);
  }, nb::arg("channel_id"), nb::arg("cq"), nb::arg("method"), nb::arg("metadata").none(),
     nb::arg("timeout").none(), nb::arg("wait_for_ready").none(), nb::arg("compression") = 0,
     nb::arg("awaits_metadata") = false);
  m.def("call_metadata", [](uint64_t channel_id, uint64_t call_id, nb::handle metadata) {
    engine().submit(CallMetadataCommand{channel_id, call_id, metadata_from(metadata)});
  });

  m.def("send_message", [](uint64_t call_id, nb::handle message, bool end_of_stream, bool compress,
                           int compression, bool ack_wakes) {
    engine().submit(SendMessageCommand{call_id, bytes_of(message.ptr(), "message"), end_of_stream,
                                       compress, compression_of(compression), ack_wakes});
  }, nb::arg("call_id"), nb::arg("message"), nb::arg("end_of_stream") = false,
     nb::arg("compress") = true, nb::arg("compression") = 0, nb::arg("ack_wakes") = true);
  m.def("half_close", [](uint64_t call_id) { engine().submit(HalfCloseCommand{call_id}); });
  m.def("read", [](uint64_t call_id) { engine().submit(ReadCommand{call_id}); });
  m.def("cancel", [](uint64_t call_id, int code, std::string details) {
    engine().submit(CancelCommand{call_id, Status{static_cast<StatusCode>(code), std::move(details)}});
  });
  m.def("send_initial_metadata", [](uint64_t call_id, nb::handle metadata, int compression) {
    engine().submit(SendInitialMetadataCommand{call_id, metadata_from(metadata), compression_of(compression)});
  }, nb::arg("call_id"), nb::arg("metadata").none(), nb::arg("compression") = 0);
  m.def("finish", [](uint64_t call_id, nb::handle initial_metadata, nb::handle message, int code,
                     std::string details, nb::handle trailing_metadata, int compression,
                     bool compress_message) {
    FinishCommand c;
    c.call_id = call_id;
    c.initial_metadata = metadata_from(initial_metadata);
    if (!message.is_none()) c.message = bytes_of(message.ptr(), "response");
    c.status = Status{static_cast<StatusCode>(code), std::move(details)};
    c.trailing_metadata = metadata_from(trailing_metadata);
    c.compression = compression_of(compression);
    c.compress_message = compress_message;
    engine().submit(std::move(c));
  }, nb::arg("call_id"), nb::arg("initial_metadata").none(), nb::arg("message").none(),
     nb::arg("code"), nb::arg("details"), nb::arg("trailing_metadata").none(),
     nb::arg("compression") = 0, nb::arg("compress_message") = true);

  m.def("listen", [](std::string address, bool reuse_port) {
    ListenResult r = listen_on(address, reuse_port);
    if (r.fd < 0) {
      PyErr_SetString(PyExc_OSError, r.error.c_str());
      throw nb::python_error();
    }
    return nb::make_tuple(r.fd, r.port);
  }, nb::arg("address"), nb::arg("reuse_port") = true);
  m.def("start_server", [](uint64_t server_id, PyCompletionQueue& cq, std::vector<int> fds,
                           nb::dict options, std::vector<std::string> unary_request_methods,
                           nb::handle security) {
    StartServerCommand c;
    c.server_id = server_id;
    c.cq = cq.queue;
    c.listen_fds = std::move(fds);
    c.security = binding::listener_security_from(security);
    read_limits(options, c.options);
    c.unary_request_methods.insert(unary_request_methods.begin(), unary_request_methods.end());
    engine().submit(std::move(c));
  }, nb::arg("server_id"), nb::arg("cq"), nb::arg("fds"), nb::arg("options"),
     nb::arg("unary_request_methods"), nb::arg("security").none() = nb::none());
  m.def("server_certificates", [](uint64_t server_id, uint32_t listener, binding::TlsServerHandle* tls) {
    engine().submit(ServerCertificatesCommand{server_id, listener, tls != nullptr ? tls->context : nullptr});
  }, nb::arg("server_id"), nb::arg("listener"), nb::arg("tls").none());
  m.def("stop_server", [](uint64_t server_id, bool close_all) {
    engine().submit(StopServerCommand{server_id, close_all ? StopPhase::kCloseAll : StopPhase::kStopAccepting});
  });
  // Engine trace lines for Python's logging (see io/trace.h): on/off, and the reader's take,
  // a list of (category, line), waiting up to wait_ms with the GIL released.
  m.def("forward_traces", [](bool on) { internal::forward_traces(on); }, nb::arg("on"));
  m.def("take_traces", [](int64_t wait_ms) {
    nb::gil_scoped_release release;
    return internal::take_forwarded_traces(std::chrono::milliseconds(std::max<int64_t>(0, wait_ms)));
  }, nb::arg("wait_ms"));
  m.def("shutdown", [] {
    nb::gil_scoped_release release;  // the poller never needs the GIL, but joining may take a moment
    Engine::shutdown();
  });
  // Join the poller before the interpreter finalizes, so no engine thread outlives it.
  nb::module_::import_("atexit").attr("register")(m.attr("shutdown"));
}
