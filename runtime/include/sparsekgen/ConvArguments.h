// What one convolution call hands the runtime, and how it becomes kernel arguments: the call's
// tensors and sizes by their ABI names, the intermediates a dataflow needs (from the dataflow
// table), and the checks a call must pass before any launch. CPU-only: the GPU launch sequence is
// in Conv.h, and unit tests check every bundled kernel's bindings without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sparsekgen/BundleAbi.h"
#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/LaunchArguments.h"

namespace sparsekgen {

// Device tensors of one forward convolution, row-major, in the kernel's types: input
// [inputs, inChannels] and weight [kernelVolume, inChannels, outChannels] in its operand type,
// outInMap [outputs, kernelVolume] int32 (-1 = none), output [outputs, outChannels] in its output type.
struct ConvForwardArguments {
  DevicePointer input = 0, weight = 0, outInMap = 0, output = 0;
  int inputs = 0, outputs = 0, inChannels = 0, outChannels = 0, kernelVolume = 0;

  // Tensors of the kernel's fused epilogue (see skg_epilogue_op): f32 [Cout] bias, scale and
  // shift; residual [outputs, Cout] in the output type. Needed exactly when the kernel fuses the op.
  DevicePointer bias = 0, scale = 0, shift = 0, residual = 0;

  // Dataflows reading sort inputs (DataflowTable.h MapExtras::SortInputs): from
  // kernelMapExtrasGpu(map, {splits = S, tileRows = the kernel's rows_per_block}): splitPermutations,
  // tileMasks and groupMaskWords. Dataflows without splits take S = 1.
  DevicePointer permutation = 0, tileMasks = 0;
  int maskWords = 0;
  int splits = 1;

  // Dataflows reading pair lists (MapExtras::PairLists): the per-offset pair lists of
  // kernelMapExtrasGpu(map, {pairs = true}): device pairInputs and pairOutputs, and the host
  // pairOffsets (volume + 1 entries).
  DevicePointer pairInputs = 0, pairOutputs = 0;
  std::vector<int32_t> pairOffsets;

  long long pairCount() const { return pairOffsets.empty() ? 0 : pairOffsets.back(); }
};

// Throws RuntimeError for a call `kernel` cannot take: an ABI this runtime does not know, sizes out
// of range, channel counts not multiples of its alignment, missing or misaligned tensors its
// dataflow or epilogue reads, sort inputs that do not match the splits, tensors past 32-bit indexing.
void checkConvArguments(const skg_kernel_record &kernel, const ConvForwardArguments &args);

// The split count the launch uses (1 for dataflows without splits).
int launchSplits(const skg_kernel_record &kernel, const ConvForwardArguments &args);

// The call's tensors and sizes under the names the templates give their parameters.
LaunchArguments callArguments(const skg_kernel_record &kernel, const ConvForwardArguments &args);

// An intermediate the runtime allocates for the dataflow, bound under `name`.
struct ScratchBuffer {
  std::string name;
  size_t bytes = 0;
  bool zeroed = false; // accumulated into (atomic adds), so it starts at zero
};
std::vector<ScratchBuffer> scratchBuffers(const skg_kernel_record &kernel, const ConvForwardArguments &args);

// The parameter names of the tile arrays of pair-tiled main kernels.
constexpr const char *kTileOffsets = "tile_offsets", *kTileBegins = "tile_begins", *kTileEnds = "tile_ends";

// Pair tiles of some offsets: rows_per_block pairs of one offset each, as three int32 arrays in one
// block (the tiles' offsets, then first pairs, then end pairs).
struct PairTileList {
  std::vector<int32_t> arrays;
  unsigned count = 0;
};
PairTileList tilePairs(const std::vector<int> &offsets, const std::vector<int32_t> &pairOffsets, uint32_t rows);

// The offsets of each main-kernel launch of a pair-tiled dataflow (its PairTileLaunches rule).
std::vector<std::vector<int>> pairTileLaunchGroups(PairTileLaunches rule, const std::vector<int32_t> &pairOffsets);

} // namespace sparsekgen
