#include "targets.h"

#include <Python.h>
#include <nanobind/stl/string.h>

#include <string>

#include "io/target.h"

namespace nb = nanobind;

namespace turbogrpc::binding {

void register_targets(nb::module_& m) {
  m.def("target_authority", [](const std::string& target) {
    internal::ParsedTarget parsed = internal::parse_target(target);
    if (!parsed.error.empty()) {
      // Sized, not a C string: the message quotes the target, which may hold a NUL.
      const std::string& e = parsed.error;
      PyObject* message = PyUnicode_DecodeUTF8(e.data(), static_cast<Py_ssize_t>(e.size()), "replace");
      if (message != nullptr) {
        PyErr_SetObject(PyExc_ValueError, message);
        Py_DECREF(message);
      }
      throw nb::python_error();
    }
    return parsed.authority;
  }, nb::arg("target"));
}

}  // namespace turbogrpc::binding
