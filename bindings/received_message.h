// Received messages as Python sees them. Small ones become bytes. Large ones (the size the
// engine pools, turbogrpc/message_buffers.h) become a read-only memoryview over the engine's own
// buffer, so a 4 MiB message is not copied into fresh pages just to be parsed; the buffer goes
// back to the pool when the last view of it is released. Why: docs/architecture.md,
// "Backpressure and memory".
#pragma once

#include <Python.h>

#include <string>

namespace turbogrpc::binding {

// Registers the owner type; call once from the module's init. False with a Python error set.
bool init_received_messages();

// A new reference: bytes, or a memoryview owning `message`'s buffer. Null with an error set.
PyObject* received_message(std::string&& message);

}  // namespace turbogrpc::binding
