// How the runtime launches a generated kernel: the functions of its image (the main kernel and its
// companions), each with its parameters (name, type, role) in launch order and its grid rule. The
// templates declare these once; the MLIR signatures, the bundle records (BundleAbi.h v3) and the
// manifest are all made from them, so none can disagree with another.
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/BundleAbi.h"

namespace sparsekgen {

struct KernelParameter {
  std::string name;
  skg_parameter_type type;
  skg_parameter_role role;
};

struct KernelFunctionAbi {
  std::string name; // the symbol: the kernel's name, plus a companion suffix
  skg_function_role role = SKG_FUNCTION_MAIN;
  skg_grid_rule grid = SKG_GRID_OUTPUT_TILES;
  int threadsPerBlock = 0;
  int sharedMemoryBytes = 0; // dynamic shared memory per block
  int rowsPerBlock = 0, columnsPerBlock = 0;
  std::vector<KernelParameter> parameters;
};

struct LaunchAbi {
  std::string name; // e.g. "implicit_gemm_forward.v3"
  std::vector<KernelFunctionAbi> functions; // the main kernel first
  const KernelFunctionAbi &main() const { return functions.front(); }
};

} // namespace sparsekgen
