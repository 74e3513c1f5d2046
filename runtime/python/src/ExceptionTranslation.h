// How the runtime's C++ exceptions reach Python, the same in both extension modules: bad input
// (a malformed document, an output path that must not be replaced) is a ValueError; an output that
// could not be written (a missing directory, a full disk) an OSError, as open() would raise.
#pragma once

#include <nanobind/nanobind.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/OutputFiles.h"

namespace sparsekgen::python {

inline void registerRuntimeExceptionTranslator() {
  nanobind::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const RuntimeError &e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const OutputPathError &e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const OutputWriteError &e) {
      PyErr_SetString(PyExc_OSError, e.what());
    }
  });
}

} // namespace sparsekgen::python
