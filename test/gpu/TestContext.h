// The one context of the GPU tests, over the default bundle, opened on first use.
#pragma once

#include "sparsekgen/Context.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen::testclouds {

inline Context &context() {
  static Context instance(0, sparsekgen_kernels);
  return instance;
}

} // namespace sparsekgen::testclouds
