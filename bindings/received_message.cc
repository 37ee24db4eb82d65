#include "received_message.h"

#include <new>

#include "turbogrpc/message_buffers.h"

namespace turbogrpc::binding {
namespace {

// Owns one received message; exports it read-only through the buffer protocol.
struct MessageOwner {
  PyObject_HEAD
  std::string bytes;
};

PyTypeObject* g_owner_type = nullptr;

int owner_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  std::string& bytes = reinterpret_cast<MessageOwner*>(self)->bytes;
  return PyBuffer_FillInfo(view, self, bytes.data(), static_cast<Py_ssize_t>(bytes.size()),
                           /*readonly=*/1, flags);
}

void owner_dealloc(PyObject* self) {
  auto* owner = reinterpret_cast<MessageOwner*>(self);
  recycle_message_buffer(std::move(owner->bytes));
  owner->bytes.~basic_string();
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);  // heap types are referenced by their instances
}

PyType_Slot owner_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(owner_dealloc)},
    {Py_bf_getbuffer, reinterpret_cast<void*>(owner_getbuffer)},
    {0, nullptr},
};

PyType_Spec owner_spec = {
    "turbogrpc._engine.ReceivedMessage", sizeof(MessageOwner), 0, Py_TPFLAGS_DEFAULT, owner_slots,
};

}  // namespace

bool init_received_messages() {
  g_owner_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&owner_spec));
  return g_owner_type != nullptr;
}

PyObject* received_message(std::string&& message) {
  if (message.size() < kPooledMessageBytes) {
    PyObject* out = PyBytes_FromStringAndSize(message.data(), static_cast<Py_ssize_t>(message.size()));
    recycle_message_buffer(std::move(message));  // may have come from the pool all the same
    return out;
  }
  PyObject* self = g_owner_type->tp_alloc(g_owner_type, 0);
  if (self == nullptr) return nullptr;
  new (&reinterpret_cast<MessageOwner*>(self)->bytes) std::string(std::move(message));
  PyObject* view = PyMemoryView_FromObject(self);  // the view holds the owner
  Py_DECREF(self);
  return view;
}

}  // namespace turbogrpc::binding
