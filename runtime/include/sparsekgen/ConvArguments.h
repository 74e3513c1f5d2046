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
  // f32 [pairs]: each pair's weight, for kernels built with pair_weights (and only for them): their
  // products are scaled by it before they are added to the output rows (graph layers, GraphConv.h).
  DevicePointer pairWeights = 0;

  long long pairCount() const { return pairOffsets.empty() ? 0 : pairOffsets.back(); }
};

// Whether `kernel` scales each pair's product by a pair weight (a spec with pair_weights: some
// function of it takes a `pair_weights` parameter).
bool takesPairWeights(const skg_kernel_record &kernel);
// Whether the kernel's main function reads the weight through a tensor map ("weight_map",
// warpgroup_mma_tma), which the launch encodes (Context::weightTensorMap).
bool takesWeightTensorMap(const skg_kernel_record &kernel);

// Throws RuntimeError for a call `kernel` cannot take: a kernel of another operation than
// `operation`, an ABI this runtime does not know, sizes out of range, channel counts not multiples of
// its alignment, missing or misaligned tensors its dataflow or epilogue reads, sort inputs that do
// not match the splits, tensors past 32-bit indexing.
void checkConvArguments(const skg_kernel_record &kernel, const ConvForwardArguments &args,
                        skg_operation operation = SKG_FORWARD);

// Device tensors of one convolution's backward pass, row-major: the forward's input x [inputs, Cin]
// and weight W [volume, Cin, Cout] in the kernels' operand type, the output gradient dy [outputs,
// Cout] in the operand type; the gradients it writes: inputGrad dx [inputs, Cin] in the input-
// gradient kernel's output type, weightGrad dW [volume, Cin, Cout] f32 (overwritten, not added to).
struct ConvBackwardArguments {
  DevicePointer input = 0, weight = 0, outputGrad = 0;
  DevicePointer inputGrad = 0, weightGrad = 0;
  int inputs = 0, outputs = 0, inChannels = 0, outChannels = 0, kernelVolume = 0;

  // The input gradient runs on the transposed map: transposedKernelMapGpu(map).outInMap [inputs,
  // volume]. Dataflows with sort inputs take those of the transposed map (kernelMapExtrasGpu on it,
  // tileRows = the kernel's rows_per_block), with their split count.
  DevicePointer transposedMap = 0, transposedPermutation = 0, transposedTileMasks = 0;
  int transposedMaskWords = 0;
  int inputGradSplits = 1;

  // The forward map's pair lists (kernelMapExtrasGpu(map, {pairs = true})): the weight gradient
  // reads them, and so do input gradients of pair-list dataflows (with inputs and outputs swapped).
  DevicePointer pairInputs = 0, pairOutputs = 0;
  std::vector<int32_t> pairOffsets;
  // The pairs' weights (f32 [pairs]) for an input-gradient kernel with pair weights: the swapped
  // pairs keep them, dx[i] += w_p dy[j] W[k]^T. Weight-gradient kernels take none (GraphConv.h
  // scales the gathered dy rows instead).
  DevicePointer pairWeights = 0;
  // K chunks per offset of the weight gradient; 0: weightGradSplits chooses.
  int weightGradSplits = 0;
  // > 0: instead, chunks of this many pairs (rounded up to 64) in every offset, so an offset gets
  // chunks in proportion to its pairs. Graph layers use it: their relations' edge counts differ by
  // orders of magnitude, and equal chunk counts would leave the largest relation's chunks long
  // enough to pace the launch.
  int weightGradChunkPairs = 0;

  long long pairCount() const { return pairOffsets.empty() ? 0 : pairOffsets.back(); }
};

// The input gradient as the call its kernel computes: a forward convolution of dy on the
// transposed map, with the layer's Cout as its input channels and Cin as its output channels
// (templates/InputGrad.cpp).
ConvForwardArguments inputGradCall(const ConvBackwardArguments &args);

// Throws RuntimeError for a weight-gradient call `kernel` cannot take (as checkConvArguments).
void checkWeightGradArguments(const skg_kernel_record &kernel, const ConvBackwardArguments &args);
// Throws RuntimeError when a tensor of the weight gradient with `chunks` K chunks (its partials
// hold chunks x Cin x Cout) is past the kernel's index width.
void checkWeightGradReach(const skg_kernel_record &kernel, const ConvBackwardArguments &args, long long chunks);

// The K chunks per offset a weight-gradient launch uses: args.weightGradSplits clamped to the
// dataflow's range, or, for 0, enough chunks for about kWeightGradTargetBlocks blocks over the
// weight's tiles and the offsets with pairs, with at least kWeightGradMinChunkPairs pairs per chunk.
constexpr int kWeightGradTargetBlocks = 512, kWeightGradMinChunkPairs = 256;
int weightGradSplits(const skg_kernel_record &kernel, const ConvBackwardArguments &args);

// The weight gradient's K chunks: chunk length ceil(pairs / splits) rounded up to 64 pairs per
// offset, or, where `chunkPairs` is positive, `chunkPairs` rounded up to 64 in every offset; the
// arrays hold the chunks as pair tiles do (offsets, first pairs, end pairs: setTileArrays) followed
// by tileFirst [volume + 1], each offset's first chunk (the reduction adds chunks tileFirst[k] ..
// tileFirst[k + 1] - 1).
struct WeightGradChunks {
  std::vector<int32_t> arrays; // the chunks' offsets, first pairs, end pairs, then tileFirst
  unsigned count = 0;
};
WeightGradChunks weightGradChunks(const std::vector<int32_t> &pairOffsets, int splits, int chunkPairs = 0);

// The weight-gradient call's tensors and sizes under the template's names (templates/WeightGrad.cpp).
LaunchArguments weightGradCallArguments(const ConvBackwardArguments &args);

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
// The weight gradient's scratch: each offset's first K chunk, and the chunks' fp32 partials.
constexpr const char *kTileFirst = "tile_first", *kPartials = "partials";

// Binds the tile arrays of `count` tiles stored from `base` (offsets, then first pairs, then end
// pairs, int32 each) under kTileOffsets, kTileBegins and kTileEnds.
void setTileArrays(LaunchArguments &arguments, DevicePointer base, unsigned count);

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
