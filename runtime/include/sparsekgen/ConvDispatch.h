// One operation of one convolution, dispatched: the kernel a config table (or the heuristic) picks
// for its layer key, the split count that kernel launches with, and the map extras (sort inputs or
// pair lists) it reads. The network executor, the trainer and the Python bindings dispatch through
// these, so a layer gets the same kernel whichever of them runs it.
#pragma once

#include <optional>
#include <vector>

#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/Context.h"
#include "sparsekgen/GpuKernelMaps.h"

namespace sparsekgen {

struct DispatchedKernel {
  const skg_kernel_record *kernel = nullptr;
  // Forward and input gradients: the launch's split count (1 for dataflows without splits);
  // weight gradients: K chunks per offset as the table asks, 0 = the runtime's choice.
  int splits = 1;
  Dispatch dispatch;
};

// Chooses through `table` (null: heuristicChoice) among `kernels` (describeKernels of the context's
// bundle) for `key` on `map` with `pairs` neighbour pairs, taking a 64-bit kernel where the layer's
// tensors need one (IndexWidth.h). Throws RuntimeError when no kernel fits.
DispatchedKernel dispatchConvKernel(const Context &context, const ConfigTable *table,
                                    const std::vector<KernelDescription> &kernels, const LayerKey &key,
                                    const DeviceKernelMap &map, long long pairs);

// The map extras `kernel` reads at `splits`, or nullopt when its dataflow reads none. Pair-list
// input gradients read the forward map's lists (swapped), not the transposed map's.
std::optional<MapExtrasRequest> mapExtrasRequest(const skg_kernel_record &kernel, int splits);

} // namespace sparsekgen
