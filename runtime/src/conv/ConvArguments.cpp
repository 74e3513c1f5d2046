#include "sparsekgen/ConvArguments.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

#include <fmt/format.h>

#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/IndexWidth.h"
#include "sparsekgen/KernelMap.h"

namespace sparsekgen {

namespace {

// The largest tensor the call touches must be within the kernel's index width (IndexWidth.h).
void checkReach(const skg_kernel_record &kernel, skg_operation operation, const ConvShape &shape) {
  const IndexedTensor largest = largestIndexedTensor(dataflowInfo(kernel.dataflow), operation, shape);
  if (!reaches(static_cast<int>(kernel.index_bits), largest.elements))
    throw RuntimeError(fmt::format("{}: {} has {} elements; this kernel indexes with 32 bits, which reach at most {}; "
                                   "use a kernel built with index_bits 64 (dispatch picks one when the bundle has it)",
                                   kernel.name, largest.name, largest.elements, SKG_MAX_32BIT_ELEMENTS));
}

void checkPointer(const char *tensor, DevicePointer pointer, unsigned alignment, const char *kernel,
                  std::string_view why) {
  if (!pointer)
    throw RuntimeError(fmt::format("{}: {} is null; {}", kernel, tensor, why));
  if (pointer % alignment != 0)
    throw RuntimeError(fmt::format("{}: {} pointer 0x{:x} is not {}-byte aligned", kernel, tensor, pointer, alignment));
}

bool fuses(const skg_kernel_record &kernel, uint32_t op) {
  for (uint32_t i = 0; i < kernel.epilogue_op_count; ++i)
    if (kernel.epilogue_ops[i] == op)
      return true;
  return false;
}

// The kernel computes `expected` through an ABI this runtime knows.
void checkOperationAndAbi(const skg_kernel_record &kernel, skg_operation expected) {
  const char *name = kernel.name;
  if (kernel.operation >= SKG_OPERATION_COUNT)
    throw RuntimeError(fmt::format("{}: operation {} is not one this runtime knows; rebuild the bundle with the "
                                   "matching sparsekgen",
                                   name, kernel.operation));
  const auto operation = static_cast<skg_operation>(kernel.operation);
  if (operation != expected)
    throw RuntimeError(fmt::format("{} computes {}, not {}; pass a {} kernel", name, operationSpellings()[operation],
                                   operationSpellings()[expected], operationSpellings()[expected]));
  const DataflowInfo &info = dataflowInfo(kernel.dataflow);
  if (info.abiName(operation) != kernel.launch_abi)
    throw RuntimeError(fmt::format("{}: launch ABI {} is not one this runtime knows (it knows {}); rebuild the "
                                   "bundle with the matching sparsekgen",
                                   name, kernel.launch_abi, knownAbiNames(operation)));
}

void checkSizes(const char *name, int inputs, int outputs, int kernelVolume, int inChannels, int outChannels,
                uint32_t alignment) {
  if (inputs < 0 || outputs < 0 || kernelVolume <= 0 || inChannels <= 0 || outChannels <= 0)
    throw RuntimeError(fmt::format("{}: invalid sizes: inputs {}, outputs {}, kernel volume {}, Cin {}, Cout {}", name,
                                   inputs, outputs, kernelVolume, inChannels, outChannels));
  for (auto [label, channels] : {std::pair{"Cin", inChannels}, std::pair{"Cout", outChannels}})
    if (channels % static_cast<int>(alignment) != 0)
      throw RuntimeError(fmt::format("{}: {} = {} is not a multiple of {}, the kernel's channel alignment; choose a "
                                     "kernel of a smaller alignment (down to 1, which takes any count)",
                                     name, label, channels, alignment));
}

void checkPairLists(const char *name, const std::vector<int32_t> &pairOffsets, int kernelVolume,
                    DevicePointer pairInputs, DevicePointer pairOutputs) {
  const char *why = "this dataflow takes the pair lists of kernelMapExtrasGpu";
  if (pairOffsets.size() != static_cast<size_t>(kernelVolume) + 1)
    throw RuntimeError(fmt::format("{}: {} pair offsets for a kernel volume of {} (expected {})", name,
                                   pairOffsets.size(), kernelVolume, kernelVolume + 1));
  if (!pairOffsets.empty() && pairOffsets.back() > 0) { // a map without pairs may come with empty (null) lists
    checkPointer("pair_inputs", pairInputs, 4, name, why);
    checkPointer("pair_outputs", pairOutputs, 4, name, why);
  }
}

} // namespace

void checkConvArguments(const skg_kernel_record &kernel, const ConvForwardArguments &args, skg_operation operation) {
  const char *name = kernel.name;
  checkOperationAndAbi(kernel, operation);
  const DataflowInfo &info = dataflowInfo(kernel.dataflow);
  checkSizes(name, args.inputs, args.outputs, args.kernelVolume, args.inChannels, args.outChannels,
             kernel.channel_alignment);
  const int alignment = static_cast<int>(kernel.channel_alignment);
  if (kernel.index_bits != 32 && kernel.index_bits != 64)
    throw RuntimeError(fmt::format("{}: index_bits {} is neither 32 nor 64; rebuild the bundle with the matching "
                                   "sparsekgen",
                                   name, kernel.index_bits));
  checkReach(kernel, operation,
             {args.inputs, args.outputs, args.inChannels, args.outChannels, args.kernelVolume,
              launchSplits(kernel, args), args.pairCount()});
  if (args.outputs == 0)
    return; // nothing to compute (empty tensors may have null pointers)
  const int operandBytes = elementBytes(kernel.operand_type), outputBytes = elementBytes(kernel.output_type);
  const unsigned copyBytes = static_cast<unsigned>(alignment * operandBytes);
  const unsigned storeBytes = static_cast<unsigned>(storeWidth(alignment) * outputBytes);
  const char *needed = "the convolution reads it";
  checkPointer("input", args.input, copyBytes, name, needed);
  checkPointer("weight", args.weight, copyBytes, name, needed);
  if (info.extras == MapExtras::PairLists) {
    checkPairLists(name, args.pairOffsets, args.kernelVolume, args.pairInputs, args.pairOutputs);
  } else {
    checkPointer("out_in_map", args.outInMap, 4, name, needed);
  }
  checkPointer("output", args.output, storeBytes, name, "the convolution writes it");
  // A weight passed to a kernel that ignores it would be a silently unweighted result.
  if (takesPairWeights(kernel)) {
    if (args.pairCount() > 0)
      checkPointer("pair_weights", args.pairWeights, 4, name, "the kernel scales each pair's product by its weight");
  } else if (args.pairWeights) {
    throw RuntimeError(fmt::format("{}: pair weights were given, but this kernel does not take them; choose a kernel "
                                   "built with \"pair_weights\": true",
                                   name));
  }
  if (fuses(kernel, SKG_EPILOGUE_BIAS))
    checkPointer("bias", args.bias, 8, name, "the kernel fuses a bias");
  if (fuses(kernel, SKG_EPILOGUE_SCALE_SHIFT)) {
    checkPointer("scale", args.scale, 8, name, "the kernel fuses a scale and shift");
    checkPointer("shift", args.shift, 8, name, "the kernel fuses a scale and shift");
  }
  if (fuses(kernel, SKG_EPILOGUE_RESIDUAL_ADD))
    checkPointer("residual", args.residual, storeBytes, name, "the kernel fuses a residual add");
  if (info.extras == MapExtras::SortInputs) {
    const char *why = "this dataflow takes the sort permutation and tile masks of kernelMapExtrasGpu";
    checkPointer("permutation", args.permutation, 4, name, why);
    checkPointer("tile_masks", args.tileMasks, 4, name, why);
    if (args.kernelVolume > kMaxMaskedVolume)
      throw RuntimeError(fmt::format("{}: kernel volume {} exceeds the {} offsets {} kernels take", name,
                                     args.kernelVolume, kMaxMaskedVolume, info.spelling()));
    if (args.splits < 1 || (!info.takesSplits() && args.splits != 1) || args.splits > args.kernelVolume)
      throw RuntimeError(fmt::format("{}: {} splits; {} kernels take {}", name, args.splits, info.spelling(),
                                     info.takesSplits() ? "1 to the kernel volume" : "1"));
    int expectedWords = groupMaskWordCount(args.kernelVolume, args.splits);
    if (args.maskWords != expectedWords)
      throw RuntimeError(fmt::format("{}: mask_words = {}, but {} splits of {} offsets need {}", name, args.maskWords,
                                     args.splits, args.kernelVolume, expectedWords));
  }
}

bool takesPairWeights(const skg_kernel_record &kernel) {
  for (uint32_t f = 0; f < kernel.function_count; ++f)
    for (uint32_t p = 0; p < kernel.functions[f].parameter_count; ++p)
      if (std::string_view(kernel.functions[f].parameters[p].name) == "pair_weights")
        return true;
  return false;
}

bool takesWeightTensorMap(const skg_kernel_record &kernel) {
  const skg_kernel_function &main = mainFunction(kernel);
  for (uint32_t p = 0; p < main.parameter_count; ++p)
    if (main.parameters[p].type == SKG_PARAMETER_TENSOR_MAP && std::string_view(main.parameters[p].name) == "weight_map")
      return true;
  return false;
}

int launchSplits(const skg_kernel_record &kernel, const ConvForwardArguments &args) {
  return dataflowInfo(kernel.dataflow).takesSplits() ? args.splits : 1;
}

LaunchArguments callArguments(const skg_kernel_record &kernel, const ConvForwardArguments &args) {
  LaunchArguments a;
  using Pointer = std::pair<const char *, DevicePointer>;
  for (auto [name, pointer] : std::initializer_list<Pointer>{{"input", args.input}, {"weight", args.weight}, {"out_in_map", args.outInMap},
                               {"output", args.output}, {"bias", args.bias}, {"scale", args.scale},
                               {"shift", args.shift}, {"residual", args.residual}, {"permutation", args.permutation},
                               {"tile_masks", args.tileMasks}, {"pair_inputs", args.pairInputs},
                               {"pair_outputs", args.pairOutputs}, {"pair_weights", args.pairWeights}})
    a.setPointer(name, pointer);
  using Size = std::pair<const char *, long long>;
  for (auto [name, size] : std::initializer_list<Size>{{"outputs", args.outputs},
                            {"in_channels", args.inChannels},
                            {"out_channels", args.outChannels},
                            {"kernel_volume", args.kernelVolume},
                            {"mask_words", args.maskWords},
                            {"splits", launchSplits(kernel, args)},
                            {"pairs", args.pairCount()}})
    a.setSize(name, size);
  return a;
}

std::vector<ScratchBuffer> scratchBuffers(const skg_kernel_record &kernel, const ConvForwardArguments &args) {
  const DataflowInfo &info = dataflowInfo(kernel.dataflow);
  const size_t slab = static_cast<size_t>(args.outputs) * args.outChannels * sizeof(float);
  const size_t pairs = static_cast<size_t>(args.pairCount());
  std::vector<ScratchBuffer> buffers;
  if (info.sink == OutputSink::SplitPartials)
    buffers.push_back({"partials", slab * launchSplits(kernel, args), false}); // every split writes its slab
  else if (info.has(CompanionKernel::Reduce))
    buffers.push_back({"partials", slab, true}); // atomic adds of tiles or of the scatter
  if (info.has(CompanionKernel::Gather) && pairs > 0)
    buffers.push_back({"gathered", pairs * args.inChannels * elementBytes(kernel.operand_type), false});
  if (info.sink == OutputSink::PairProducts && pairs > 0)
    buffers.push_back({"products", pairs * args.outChannels * sizeof(float), false});
  return buffers;
}

void setTileArrays(LaunchArguments &arguments, DevicePointer base, unsigned count) {
  arguments.setPointer(kTileOffsets, base);
  arguments.setPointer(kTileBegins, base + 4ull * count);
  arguments.setPointer(kTileEnds, base + 8ull * count);
}

PairTileList tilePairs(const std::vector<int> &offsets, const std::vector<int32_t> &pairOffsets, uint32_t rows) {
  std::vector<int32_t> tileOffsets, begins, ends;
  for (int k : offsets)
    for (int32_t begin = pairOffsets[k]; begin < pairOffsets[k + 1]; begin += static_cast<int32_t>(rows)) {
      tileOffsets.push_back(k);
      begins.push_back(begin);
      ends.push_back(pairOffsets[k + 1]);
    }
  PairTileList tiles;
  tiles.count = static_cast<unsigned>(tileOffsets.size());
  tiles.arrays = std::move(tileOffsets);
  tiles.arrays.insert(tiles.arrays.end(), begins.begin(), begins.end());
  tiles.arrays.insert(tiles.arrays.end(), ends.begin(), ends.end());
  return tiles;
}

std::vector<std::vector<int>> pairTileLaunchGroups(PairTileLaunches rule, const std::vector<int32_t> &pairOffsets) {
  const int volume = static_cast<int>(pairOffsets.size()) - 1;
  std::vector<std::vector<int>> groups;
  if (rule == PairTileLaunches::AllOffsetsInOne) {
    groups.emplace_back();
    for (int k = 0; k < volume; ++k)
      groups.back().push_back(k);
    return groups;
  }
  // SimilarPairCounts: offsets with pairs, the largest first, in groups within a factor of two of
  // the group's largest; each group is one batched GEMM launch.
  std::vector<int> order;
  for (int k = 0; k < volume; ++k)
    if (pairOffsets[k + 1] > pairOffsets[k])
      order.push_back(k);
  auto count = [&](int k) { return pairOffsets[k + 1] - pairOffsets[k]; };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return count(a) > count(b); });
  for (int k : order) {
    if (groups.empty() || 2 * count(k) < count(groups.back().front()))
      groups.emplace_back();
    groups.back().push_back(k);
  }
  return groups;
}

ConvForwardArguments inputGradCall(const ConvBackwardArguments &args) {
  ConvForwardArguments call;
  call.input = args.outputGrad;
  call.weight = args.weight;
  call.outInMap = args.transposedMap;
  call.output = args.inputGrad;
  call.inputs = args.outputs;
  call.outputs = args.inputs;
  call.inChannels = args.outChannels;
  call.outChannels = args.inChannels;
  call.kernelVolume = args.kernelVolume;
  call.permutation = args.transposedPermutation;
  call.tileMasks = args.transposedTileMasks;
  call.maskWords = args.transposedMaskWords;
  call.splits = args.inputGradSplits;
  call.pairInputs = args.pairOutputs; // the transposed map's pairs read dy rows and write dx rows
  call.pairOutputs = args.pairInputs;
  call.pairOffsets = args.pairOffsets;
  call.pairWeights = args.pairWeights; // a pair keeps its weight when swapped
  return call;
}

void checkWeightGradReach(const skg_kernel_record &kernel, const ConvBackwardArguments &args, long long chunks) {
  checkReach(kernel, SKG_WEIGHT_GRAD,
             {args.inputs, args.outputs, args.inChannels, args.outChannels, args.kernelVolume, chunks, args.pairCount()});
}

void checkWeightGradArguments(const skg_kernel_record &kernel, const ConvBackwardArguments &args) {
  const char *name = kernel.name;
  checkOperationAndAbi(kernel, SKG_WEIGHT_GRAD);
  checkSizes(name, args.inputs, args.outputs, args.kernelVolume, args.inChannels, args.outChannels,
             kernel.channel_alignment);
  checkWeightGradReach(kernel, args, 0); // the partials' K chunks are checked at launch
  checkPairLists(name, args.pairOffsets, args.kernelVolume, args.pairInputs, args.pairOutputs);
  checkPointer("weight_grad", args.weightGrad, 4, name, "the weight gradient writes it");
  if (args.pairCount() == 0)
    return; // dW = 0: nothing is read
  const unsigned copyBytes = kernel.channel_alignment * static_cast<unsigned>(elementBytes(kernel.operand_type));
  checkPointer("input", args.input, copyBytes, name, "the weight gradient reads it");
  checkPointer("output_grad", args.outputGrad, copyBytes, name, "the weight gradient reads it");
  if (args.weightGradSplits < 0)
    throw RuntimeError(fmt::format("{}: {} weight-gradient splits (0 chooses, else 1 to {})", name,
                                   args.weightGradSplits, dataflowInfo(kernel.dataflow).maxSplits));
}

int weightGradSplits(const skg_kernel_record &kernel, const ConvBackwardArguments &args) {
  const DataflowInfo &info = dataflowInfo(kernel.dataflow);
  if (args.weightGradSplits > 0)
    return info.splitsFor(args.weightGradSplits, info.maxSplits);
  const skg_kernel_function &main = mainFunction(kernel);
  long long weightTiles = ((args.inChannels + main.rows_per_block - 1) / main.rows_per_block) *
                          ((args.outChannels + main.columns_per_block - 1) / main.columns_per_block);
  long long activeOffsets = 0, largest = 0;
  for (size_t k = 0; k + 1 < args.pairOffsets.size(); ++k) {
    long long pairs = args.pairOffsets[k + 1] - args.pairOffsets[k];
    activeOffsets += pairs > 0;
    largest = std::max(largest, pairs);
  }
  if (activeOffsets == 0)
    return 1;
  long long wanted = (kWeightGradTargetBlocks + weightTiles * activeOffsets - 1) / (weightTiles * activeOffsets);
  long long byLength = std::max<long long>(1, largest / kWeightGradMinChunkPairs);
  return static_cast<int>(std::clamp<long long>(std::min(wanted, byLength), 1, info.maxSplits));
}

WeightGradChunks weightGradChunks(const std::vector<int32_t> &pairOffsets, int splits, int chunkPairs) {
  constexpr int32_t kChunkGranule = 64; // a multiple of every CTA K
  std::vector<int32_t> offsets, begins, ends, tileFirst;
  const int volume = static_cast<int>(pairOffsets.size()) - 1;
  for (int k = 0; k < volume; ++k) {
    tileFirst.push_back(static_cast<int32_t>(offsets.size()));
    const int32_t pairs = pairOffsets[k + 1] - pairOffsets[k];
    const int32_t perChunk = chunkPairs > 0 ? chunkPairs : std::max<int32_t>(1, (pairs + splits - 1) / splits);
    const int32_t length = (perChunk + kChunkGranule - 1) / kChunkGranule * kChunkGranule;
    for (int32_t begin = pairOffsets[k]; begin < pairOffsets[k + 1]; begin += length) {
      offsets.push_back(k);
      begins.push_back(begin);
      ends.push_back(std::min(begin + length, pairOffsets[k + 1]));
    }
  }
  tileFirst.push_back(static_cast<int32_t>(offsets.size()));
  WeightGradChunks chunks;
  chunks.count = static_cast<unsigned>(offsets.size());
  chunks.arrays = std::move(offsets);
  for (const auto *part : {&begins, &ends, &tileFirst})
    chunks.arrays.insert(chunks.arrays.end(), part->begin(), part->end());
  return chunks;
}

LaunchArguments weightGradCallArguments(const ConvBackwardArguments &args) {
  LaunchArguments a;
  using Pointer = std::pair<const char *, DevicePointer>;
  for (auto [name, pointer] : std::initializer_list<Pointer>{{"input", args.input},
                                                             {"output_grad", args.outputGrad},
                                                             {"weight_grad", args.weightGrad},
                                                             {"pair_inputs", args.pairInputs},
                                                             {"pair_outputs", args.pairOutputs}})
    a.setPointer(name, pointer);
  a.setSize("in_channels", args.inChannels);
  a.setSize("out_channels", args.outChannels);
  a.setSize("kernel_volume", args.kernelVolume);
  return a;
}

} // namespace sparsekgen
