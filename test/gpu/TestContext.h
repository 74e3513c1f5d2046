// The contexts of the GPU tests, opened on first use: one over the default bundle, and one over the
// application bundles (ApplicationBundles.h: the default bundle and, where built, the Hopper
// bundle), which dispatches as sparsekgen's programs do.
#pragma once

#include "ApplicationBundles.h"
#include "sparsekgen/Context.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen::testclouds {

inline Context &context() {
  static Context instance(0, sparsekgen_kernels);
  return instance;
}

inline Context &applicationContext() {
  static Context instance(0, applicationBundles());
  return instance;
}

} // namespace sparsekgen::testclouds
