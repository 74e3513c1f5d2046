// How the runtime launches a generated kernel: its parameters in order and its grid and block.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sparsekgen {

struct LaunchAbi {
  std::string name;                                            // e.g. "implicit_gemm_forward.v1"
  std::vector<std::pair<std::string, std::string>> parameters; // (name, type) in launch order
  int threadsPerBlock = 0;
  int sharedMemoryBytes = 0; // dynamic shared memory per block
  int rowsPerBlock = 0;      // grid.x = ceil(outputs / rowsPerBlock)
  int columnsPerBlock = 0;   // grid.y = ceil(Cout / columnsPerBlock); grid.z = splits (split dataflow)
  // A second kernel of the same image run after this one (the split dataflow's reduction), or empty.
  std::string companionKernel;
  std::vector<std::pair<std::string, std::string>> companionParameters;
  int companionThreadsPerBlock = 0;
  // Further kernels of the same image (gather-GEMM-scatter's `_gather` and `_scatter`), with their
  // parameters; companionThreadsPerBlock threads each.
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> auxiliaryKernels;
};

} // namespace sparsekgen
