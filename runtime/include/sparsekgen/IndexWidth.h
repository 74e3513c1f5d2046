// Which kernels reach a layer's tensors. Kernels with 32-bit address arithmetic (the default, a
// third fewer registers) index at most SKG_MAX_32BIT_ELEMENTS elements of any tensor they touch;
// layers with a larger operand, map, output or scratch buffer need a kernel built with
// index_bits 64. Dispatch picks those only for such layers, so small layers keep 32-bit arithmetic.
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/BundleAbi.h"
#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/DataflowTable.h"

namespace sparsekgen {

// The sizes of one kernel call, in the call's orientation: an input-gradient call reads dy
// (`inputs` = the forward outputs, Cin = the forward Cout) and writes dx. `splits` is the launch's
// split count (forward and input gradients) or the number of K chunks (weight gradients).
struct ConvShape {
  long long inputs = 0, outputs = 0, inChannels = 0, outChannels = 0, kernelVolume = 0, splits = 1, pairs = 0;
};

struct IndexedTensor {
  std::string name; // as the launch ABI names it, e.g. "output" or "partials"
  long long elements = 0;
};

// The largest tensor a kernel of `dataflow` computing `operation` indexes for `shape`: its operands,
// map, output and scratch buffers (runtime/src/conv/ConvArguments.cpp allocates the same).
IndexedTensor largestIndexedTensor(const DataflowInfo &dataflow, skg_operation operation, const ConvShape &shape);

// Whether a kernel of `indexBits` address arithmetic reaches `tensor`.
constexpr bool reaches(int indexBits, long long elements) {
  return indexBits == 64 || elements <= SKG_MAX_32BIT_ELEMENTS;
}

// A layer's sizes in the forward orientation: the map's input and output rows and its pairs.
struct LayerExtents {
  long long inputs = 0, outputs = 0, pairs = 0;
};

// The call shape of `key`'s operation with `splits` (the table's or heuristic's request: 0 for a
// weight gradient means the runtime's choice, bounded here by the dataflow's largest).
ConvShape operationShape(const LayerKey &key, const LayerExtents &extents, const DataflowInfo &dataflow, int splits);

// `chosen` as a table or the heuristic picked it for `key`; when that kernel does not reach the
// layer's largest tensor, its 64-bit twin (the same spec with index_bits 64: the name plus
// SKG_WIDE_INDEX_SUFFIX), else the heuristic's choice among the 64-bit kernels. The reason says
// which tensor needed it. Throws RuntimeError naming the tensor when no 64-bit kernel fits.
Dispatch widenWhereNeeded(const Dispatch &chosen, const LayerKey &key, const LayerExtents &extents,
                          const std::vector<KernelDescription> &kernels);

} // namespace sparsekgen
