// Turns specs into bundled kernels (module -> PTX per target -> cubin where ptxas exists), on
// several threads, each with its own MLIR context.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sparsekgen/generator/Bundle.h"
#include "sparsekgen/generator/Lowering.h"

namespace sparsekgen {

// Each worker holds an MLIR context and a ptxas process (tens of MB): past this many, more threads
// only cost memory, and thousands fail to start.
constexpr unsigned kMaxCompileJobs = 256;

struct CompileOptions {
  std::optional<std::string> ptxas; // no cubins without it
  unsigned ptxasTimeoutSeconds = kDefaultPtxasTimeoutSeconds;
  unsigned jobs = 1; // at most kMaxCompileJobs
  // Called after each kernel, from the thread that compiled it, serialised by the compiler.
  std::function<void(size_t done, size_t total, const BundledKernel &)> progress;
};

// Stops with Interrupted (after the kernels in flight) when a signal asks it to.
std::vector<BundledKernel> compileKernels(const std::vector<KernelSpec> &specs, const CompileOptions &options);

} // namespace sparsekgen
