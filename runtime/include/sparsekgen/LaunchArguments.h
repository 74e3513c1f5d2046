// The generic binder: a kernel function's argument array made by name from the values a call
// provides, in the order and with the types the bundle records (BundleAbi.h v3), and its grid from
// the function's grid rule. CPU-only (no CUDA headers), so the bindings of every bundled kernel can
// be checked without a GPU.
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/BundleAbi.h"

namespace sparsekgen {

// A device address (the driver API's CUdeviceptr).
using DevicePointer = unsigned long long;

// Every convolution builds one, on the host path of each launch: a flat list (a call names about 20
// values, each parameter is found by a short linear search) rather than a tree of nodes.
class LaunchArguments {
public:
  LaunchArguments() { values_.reserve(24); }
  // Sets (or replaces) the value of `name`. Replacing keeps the value's place, so argument arrays
  // bound earlier stay valid.
  void setPointer(const std::string &name, DevicePointer pointer);
  // Throws RuntimeError when `value` does not fit the kernels' int32 sizes.
  void setSize(const std::string &name, long long value);
  bool has(const std::string &name) const { return find(name) != nullptr; }

  // The argument array of `function` (of `kernel`): one pointer per recorded parameter, pointing
  // into this object (valid while it lives and the value is not set again). Throws RuntimeError
  // naming the kernel, the function and the parameter when one is not provided, is provided as the
  // wrong kind (pointer for a size or the reverse), or is a null pointer.
  std::vector<void *> bind(const skg_kernel_record &kernel, const skg_kernel_function &function) const;

private:
  struct Value {
    std::string name;
    bool pointer = true;
    DevicePointer address = 0; // pointers
    int size = 0;              // sizes
  };
  const Value *find(const std::string &name) const;
  Value &slot(const std::string &name);

  std::vector<Value> values_;
};

// The sizes grid rules read.
struct GridSizes {
  long long outputs = 0, inChannels = 0, outChannels = 0, splits = 1;
  long long pairTiles = 0, pairs = 0;
  long long kernelVolume = 0;
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
