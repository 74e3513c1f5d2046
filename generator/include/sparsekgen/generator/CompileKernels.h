// Turns specs into bundled kernels (module -> PTX per target -> cubin where ptxas exists), on
// several threads, each with its own MLIR context.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sparsekgen/generator/Bundle.h"

namespace sparsekgen {

struct CompileOptions {
  std::optional<std::string> ptxas; // no cubins without it
  unsigned jobs = 1;
  // Called after each kernel, from the thread that compiled it, serialised by the compiler.
  std::function<void(size_t done, size_t total, const BundledKernel &)> progress;
};

std::vector<BundledKernel> compileKernels(const std::vector<KernelSpec> &specs, const CompileOptions &options);

} // namespace sparsekgen
