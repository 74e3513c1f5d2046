// The generic binder: a kernel function's argument array made by name from the values a call
// provides, in the order and with the types the bundle records (BundleAbi.h v3), and its grid from
// the function's grid rule. CPU-only (no CUDA headers), so the bindings of every bundled kernel can
// be checked without a GPU.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sparsekgen/BundleAbi.h"

namespace sparsekgen {

// A device address (the driver API's CUdeviceptr).
using DevicePointer = unsigned long long;

class LaunchArguments {
public:
  void setPointer(const std::string &name, DevicePointer pointer);
  // Throws RuntimeError when `value` does not fit the kernels' int32 sizes.
  void setSize(const std::string &name, long long value);
  bool has(const std::string &name) const { return pointers_.count(name) || sizes_.count(name); }

  // The argument array of `function` (of `kernel`): one pointer per recorded parameter, pointing
  // into this object (valid while it lives and the value is not set again). Throws RuntimeError
  // naming the kernel, the function and the parameter when one is not provided, is provided as the
  // wrong kind (pointer for a size or the reverse), or is a null pointer.
  std::vector<void *> bind(const skg_kernel_record &kernel, const skg_kernel_function &function) const;

private:
  mutable std::map<std::string, DevicePointer> pointers_;
  mutable std::map<std::string, int> sizes_;
};

// The sizes grid rules read.
struct GridSizes {
  long long outputs = 0, inChannels = 0, outChannels = 0, splits = 1;
  long long pairTiles = 0, pairs = 0;
};

struct LaunchShape {
  unsigned grid[3] = {1, 1, 1};
  unsigned threads = 0;
  unsigned sharedBytes = 0;
};

// The grid of `function` by its recorded rule (skg_grid_rule), its block and shared memory.
LaunchShape launchShape(const skg_kernel_function &function, const GridSizes &sizes);

// The main kernel of a record (functions[0]), and the function of `role`, or nullptr.
const skg_kernel_function &mainFunction(const skg_kernel_record &kernel);
const skg_kernel_function *findFunction(const skg_kernel_record &kernel, skg_function_role role);

} // namespace sparsekgen
