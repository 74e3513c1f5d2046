#include "sparsekgen/Conv.h"

#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

// The kernels index with 32 bits (generator/include/sparsekgen/generator/KernelBuilder.h).
constexpr long long kMaxElements = std::numeric_limits<int32_t>::max();
constexpr int kMaxMaskedVolume = 343; // generator/include/sparsekgen/generator/SharedRing.h

struct KnownAbi {
  const char *name;
  uint32_t dataflow;
};
constexpr KnownAbi kKnownAbis[] = {{"implicit_gemm_forward.v2", SKG_IMPLICIT_GEMM},
                                   {"implicit_gemm_sorted_forward.v2", SKG_IMPLICIT_GEMM_SORTED},
                                   {"implicit_gemm_split_forward.v2", SKG_IMPLICIT_GEMM_SPLIT},
                                   {"fetch_on_demand_forward.v2", SKG_FETCH_ON_DEMAND},
                                   {"gather_gemm_scatter_forward.v2", SKG_GATHER_GEMM_SCATTER}};

void checkElements(const char *tensor, long long rows, long long columns, const char *kernel) {
  if (rows * columns > kMaxElements)
    throw RuntimeError(fmt::format("{}: {} has {} x {} elements; kernels index with 32 bits, so at most {} fit",
                                   kernel, tensor, rows, columns, kMaxElements));
}

void checkPointer(const char *tensor, CUdeviceptr pointer, unsigned alignment, const char *kernel, const char *why) {
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

bool synchronousLaunches() {
  const char *value = std::getenv("SPARSEKGEN_SYNC_LAUNCHES");
  return value && *value && std::strcmp(value, "0") != 0;
}

void launch(Context &context, CUfunction function, const char *name, unsigned gridX, unsigned gridY, unsigned gridZ,
            unsigned threads, unsigned sharedBytes, CUstream stream, std::vector<void *> &parameters,
            const std::string &image) {
  std::string description = fmt::format("of {} (grid {}x{}x{}, block {}x1x1, {} bytes dynamic shared memory, {})",
                                        name, gridX, gridY, gridZ, threads, sharedBytes, image);
  checkCuda(cuCtxSetCurrent(context.handle()), "cuCtxSetCurrent");
  checkCuda(cuLaunchKernel(function, gridX, gridY, gridZ, threads, 1, 1, sharedBytes, stream, parameters.data(),
                           nullptr),
            "cuLaunchKernel", description);
  if (synchronousLaunches())
    checkCuda(cuStreamSynchronize(stream), "cuStreamSynchronize", "after the launch " + description);
}

void pushEpilogueParameters(const skg_kernel_record &kernel, std::vector<void *> &parameters, CUdeviceptr &bias,
                            CUdeviceptr &scale, CUdeviceptr &shift, CUdeviceptr &residual) {
  if (fuses(kernel, SKG_EPILOGUE_BIAS))
    parameters.push_back(&bias);
  if (fuses(kernel, SKG_EPILOGUE_SCALE_SHIFT)) {
    parameters.push_back(&scale);
    parameters.push_back(&shift);
  }
  if (fuses(kernel, SKG_EPILOGUE_RESIDUAL_ADD))
    parameters.push_back(&residual);
}

// Adds the S fp32 partial slabs, applies the epilogue and stores: the companion kernel of the split
// and fetch-on-demand dataflows.
void launchReduction(Context &context, const skg_kernel_record &kernel, const LoadedKernel &loaded,
                     CUdeviceptr partials, const ConvForwardArguments &args, int32_t splits, CUstream stream) {
  CUdeviceptr output = args.output, bias = args.bias, scale = args.scale, shift = args.shift,
              residual = args.residual;
  int32_t outputs = args.outputs, outChannels = args.outChannels;
  std::vector<void *> parameters = {&partials, &output, &outputs, &outChannels, &splits};
  pushEpilogueParameters(kernel, parameters, bias, scale, shift, residual);
  long long columnGroups = kernel.channel_alignment >= 2 ? (outChannels + 1) / 2 : outChannels;
  long long work = static_cast<long long>(outputs) * columnGroups;
  unsigned blocks =
      static_cast<unsigned>((work + kernel.companion_threads_per_block - 1) / kernel.companion_threads_per_block);
  launch(context, loaded.companion, kernel.companion_name, blocks, 1, 1, kernel.companion_threads_per_block, 0, stream,
         parameters, loaded.imageDescription);
}

// The tiles of `offsets` (rows_per_block pairs of one offset each), as three int32 arrays (the
// tiles' offsets, then first pairs, then end pairs) in one device buffer.
struct PairTiles {
  DeviceBuffer buffer;
  unsigned count = 0;
  CUdeviceptr offsets() const { return buffer.get(); }
  CUdeviceptr begins() const { return buffer.get() + 4ull * count; }
  CUdeviceptr ends() const { return buffer.get() + 8ull * count; }
};

PairTiles tilePairs(const std::vector<int> &offsetsToTile, const std::vector<int32_t> &pairOffsets, uint32_t rows,
                    CUstream stream) {
  std::vector<int32_t> offsets, begins, ends;
  for (int k : offsetsToTile)
    for (int32_t begin = pairOffsets[k]; begin < pairOffsets[k + 1]; begin += static_cast<int32_t>(rows)) {
      offsets.push_back(k);
      begins.push_back(begin);
      ends.push_back(pairOffsets[k + 1]);
    }
  PairTiles tiles;
  tiles.count = static_cast<unsigned>(offsets.size());
  offsets.insert(offsets.end(), begins.begin(), begins.end());
  offsets.insert(offsets.end(), ends.begin(), ends.end());
  tiles.buffer = DeviceBuffer::from(offsets, stream);
  return tiles;
}

unsigned blocksFor(long long work, uint32_t threads) { return static_cast<unsigned>((work + threads - 1) / threads); }

// Offsets in groups of similar pair counts (within a factor of two of the group's largest), the
// largest first: each group is one batched GEMM launch.
std::vector<std::vector<int>> groupOffsetsByPairCount(const std::vector<int32_t> &pairOffsets) {
  std::vector<int> order;
  for (size_t k = 0; k + 1 < pairOffsets.size(); ++k)
    if (pairOffsets[k + 1] > pairOffsets[k])
      order.push_back(static_cast<int>(k));
  auto count = [&](int k) { return pairOffsets[k + 1] - pairOffsets[k]; };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return count(a) > count(b); });
  std::vector<std::vector<int>> groups;
  for (int k : order) {
    if (groups.empty() || 2 * count(k) < count(groups.back().front()))
      groups.emplace_back();
    groups.back().push_back(k);
  }
  return groups;
}

// Gather the pairs' input rows, one grouped GEMM launch per group of offsets, scatter the fp32
// products to their output rows, reduce with the epilogue.
void gatherGemmScatter(Context &context, const skg_kernel_record &kernel, const LoadedKernel &loaded,
                       const ConvForwardArguments &args, CUstream stream) {
  const int32_t pairs = args.pairOffsets.back();
  DeviceBuffer partials(static_cast<size_t>(args.outputs) * args.outChannels * sizeof(float), stream);
  partials.fill32(0, stream);
  if (pairs > 0) {
    DeviceBuffer gathered(static_cast<size_t>(pairs) * args.inChannels * elementBytes(kernel.operand_type), stream);
    DeviceBuffer products(static_cast<size_t>(pairs) * args.outChannels * sizeof(float), stream);
    CUdeviceptr input = args.input, weight = args.weight, pairInputs = args.pairInputs,
                pairOutputs = args.pairOutputs, gatheredPointer = gathered.get(), productsPointer = products.get(),
                partialsPointer = partials.get();
    int32_t pairCount = pairs, inChannels = args.inChannels, outChannels = args.outChannels;
    const uint32_t threads = kernel.companion_threads_per_block;
    std::string gatherName = std::string(kernel.name) + "_gather", scatterName = std::string(kernel.name) + "_scatter";
    std::vector<void *> gather = {&input, &pairInputs, &gatheredPointer, &pairCount, &inChannels};
    launch(context, loaded.gather, gatherName.c_str(), blocksFor(1ll * pairs * inChannels, threads), 1, 1, threads, 0,
           stream, gather, loaded.imageDescription);
    unsigned gridY = static_cast<unsigned>((args.outChannels + kernel.columns_per_block - 1) / kernel.columns_per_block);
    std::vector<PairTiles> groups; // kept alive until the launches are ordered on the stream
    for (const auto &group : groupOffsetsByPairCount(args.pairOffsets)) {
      groups.push_back(tilePairs(group, args.pairOffsets, kernel.rows_per_block, stream));
      CUdeviceptr tileOffsets = groups.back().offsets(), tileBegins = groups.back().begins(),
                  tileEnds = groups.back().ends();
      std::vector<void *> gemm = {&gatheredPointer, &weight,          &tileOffsets, &tileBegins,
                                  &tileEnds,        &productsPointer, &inChannels,  &outChannels};
      launch(context, loaded.function, kernel.name, groups.back().count, gridY, 1, kernel.threads_per_block,
             kernel.shared_memory_bytes, stream, gemm, loaded.imageDescription);
    }
    std::vector<void *> scatter = {&productsPointer, &pairOutputs, &partialsPointer, &pairCount, &outChannels};
    launch(context, loaded.scatter, scatterName.c_str(), blocksFor(1ll * pairs * outChannels, threads), 1, 1, threads,
           0, stream, scatter, loaded.imageDescription);
  }
  launchReduction(context, kernel, loaded, partials.get(), args, 1, stream);
}

// One tile per rows_per_block pairs of an offset, all offsets in one launch; fp32 partial sums
// accumulate atomically, then the reduction applies the epilogue.
void fetchOnDemand(Context &context, const skg_kernel_record &kernel, const LoadedKernel &loaded,
                   const ConvForwardArguments &args, CUstream stream) {
  std::vector<int> all(args.kernelVolume);
  for (int k = 0; k < args.kernelVolume; ++k)
    all[k] = k;
  PairTiles tiles = tilePairs(all, args.pairOffsets, kernel.rows_per_block, stream);
  const unsigned count = tiles.count;
  DeviceBuffer partials(static_cast<size_t>(args.outputs) * args.outChannels * sizeof(float), stream);
  partials.fill32(0, stream);
  if (count > 0) {
    CUdeviceptr input = args.input, weight = args.weight, pairInputs = args.pairInputs,
                pairOutputs = args.pairOutputs, tileOffsets = tiles.offsets(), tileBegins = tiles.begins(),
                tileEnds = tiles.ends(), partialsPointer = partials.get();
    int32_t inChannels = args.inChannels, outChannels = args.outChannels;
    std::vector<void *> parameters = {&input,      &weight,   &pairInputs,      &pairOutputs, &tileOffsets,
                                      &tileBegins, &tileEnds, &partialsPointer, &inChannels,  &outChannels};
    unsigned gridY = static_cast<unsigned>((args.outChannels + kernel.columns_per_block - 1) / kernel.columns_per_block);
    launch(context, loaded.function, kernel.name, count, gridY, 1, kernel.threads_per_block,
           kernel.shared_memory_bytes, stream, parameters, loaded.imageDescription);
  }
  launchReduction(context, kernel, loaded, partials.get(), args, 1, stream);
}

} // namespace

int elementBytes(uint32_t dtype) { return dtype == SKG_F32 ? 4 : 2; }

void convForward(Context &context, const skg_kernel_record &kernel, const ConvForwardArguments &args,
                 CUstream stream) {
  const char *name = kernel.name;
  const KnownAbi *abi = nullptr;
  for (const auto &known : kKnownAbis)
    if (std::strcmp(kernel.launch_abi, known.name) == 0)
      abi = &known;
  if (!abi)
    throw RuntimeError(fmt::format("{}: launch ABI {} is not one this runtime knows; rebuild the bundle with the "
                                   "matching sparsekgen",
                                   name, kernel.launch_abi));
  const bool sorted = abi->dataflow == SKG_IMPLICIT_GEMM_SORTED, split = abi->dataflow == SKG_IMPLICIT_GEMM_SPLIT;
  const bool fetch = abi->dataflow == SKG_FETCH_ON_DEMAND || abi->dataflow == SKG_GATHER_GEMM_SCATTER;
  if (args.inputs < 0 || args.outputs < 0 || args.kernelVolume <= 0 || args.inChannels <= 0 || args.outChannels <= 0)
    throw RuntimeError(fmt::format("{}: invalid sizes: inputs {}, outputs {}, kernel volume {}, Cin {}, Cout {}", name,
                                   args.inputs, args.outputs, args.kernelVolume, args.inChannels, args.outChannels));
  const int alignment = static_cast<int>(kernel.channel_alignment);
  for (auto [label, channels] : {std::pair{"Cin", args.inChannels}, std::pair{"Cout", args.outChannels}})
    if (channels % alignment != 0)
      throw RuntimeError(fmt::format("{}: {} = {} is not a multiple of {}, the kernel's channel alignment; choose a "
                                     "kernel of a smaller alignment (down to 1, which takes any count)",
                                     name, label, channels, alignment));
  checkElements("input", args.inputs, args.inChannels, name);
  checkElements("out_in_map", args.outputs, args.kernelVolume, name);
  checkElements("output", args.outputs, args.outChannels, name);
  checkElements("weight", static_cast<long long>(args.kernelVolume) * args.inChannels, args.outChannels, name);
  if (args.outputs == 0)
    return; // nothing to compute (empty tensors may have null pointers); a zero-sized grid is not a valid launch
  const int operandBytes = elementBytes(kernel.operand_type), outputBytes = elementBytes(kernel.output_type);
  const unsigned copyBytes = static_cast<unsigned>(alignment * operandBytes);
  const unsigned storeBytes = static_cast<unsigned>((alignment >= 2 ? 2 : 1) * outputBytes);
  const char *needed = "the convolution reads it";
  checkPointer("input", args.input, copyBytes, name, needed);
  checkPointer("weight", args.weight, copyBytes, name, needed);
  if (fetch) {
    const char *why = "fetch-on-demand and gather-GEMM-scatter kernels take the pair lists of kernelMapExtrasGpu";
    if (args.pairOffsets.size() != static_cast<size_t>(args.kernelVolume) + 1)
      throw RuntimeError(fmt::format("{}: {} pair offsets for a kernel volume of {} (expected {})", name,
                                     args.pairOffsets.size(), args.kernelVolume, args.kernelVolume + 1));
    if (args.pairOffsets.back() > 0) { // a map without pairs may come with empty (null) lists
      checkPointer("pair_inputs", args.pairInputs, 4, name, why);
      checkPointer("pair_outputs", args.pairOutputs, 4, name, why);
    }
  } else {
    checkPointer("out_in_map", args.outInMap, 4, name, needed);
  }
  checkPointer("output", args.output, storeBytes, name, "the convolution writes it");
  if (fuses(kernel, SKG_EPILOGUE_BIAS))
    checkPointer("bias", args.bias, 8, name, "the kernel fuses a bias");
  if (fuses(kernel, SKG_EPILOGUE_SCALE_SHIFT)) {
    checkPointer("scale", args.scale, 8, name, "the kernel fuses a scale and shift");
    checkPointer("shift", args.shift, 8, name, "the kernel fuses a scale and shift");
  }
  if (fuses(kernel, SKG_EPILOGUE_RESIDUAL_ADD))
    checkPointer("residual", args.residual, storeBytes, name, "the kernel fuses a residual add");
  if (sorted || split) {
    const char *why = "sorted and split kernels take the sort permutation and tile masks of kernelMapExtrasGpu";
    checkPointer("permutation", args.permutation, 4, name, why);
    checkPointer("tile_masks", args.tileMasks, 4, name, why);
    if (args.kernelVolume > kMaxMaskedVolume)
      throw RuntimeError(fmt::format("{}: kernel volume {} exceeds the {} offsets sorted and split kernels take", name,
                                     args.kernelVolume, kMaxMaskedVolume));
    if (args.splits < 1 || (sorted && args.splits != 1) || args.splits > args.kernelVolume)
      throw RuntimeError(fmt::format("{}: {} splits; {} kernels take {}", name, args.splits,
                                     sorted ? "sorted" : "split", sorted ? "1" : "1 to the kernel volume"));
    int groupWidth = (args.kernelVolume + args.splits - 1) / args.splits;
    int expectedWords = std::max(1, (groupWidth + 31) / 32);
    if (args.maskWords != expectedWords)
      throw RuntimeError(fmt::format("{}: mask_words = {}, but {} splits of {} offsets need {}", name, args.maskWords,
                                     args.splits, args.kernelVolume, expectedWords));
  }
  const LoadedKernel &loaded = context.load(kernel);
  if (abi->dataflow == SKG_FETCH_ON_DEMAND) {
    fetchOnDemand(context, kernel, loaded, args, stream);
    return;
  }
  if (abi->dataflow == SKG_GATHER_GEMM_SCATTER) {
    gatherGemmScatter(context, kernel, loaded, args, stream);
    return;
  }
  unsigned gridX = static_cast<unsigned>((args.outputs + kernel.rows_per_block - 1) / kernel.rows_per_block);
  unsigned gridY = static_cast<unsigned>((args.outChannels + kernel.columns_per_block - 1) / kernel.columns_per_block);
  CUdeviceptr input = args.input, weight = args.weight, map = args.outInMap, output = args.output;
  CUdeviceptr permutation = args.permutation, tileMasks = args.tileMasks;
  CUdeviceptr bias = args.bias, scale = args.scale, shift = args.shift, residual = args.residual;
  int32_t outputs = args.outputs, inChannels = args.inChannels, outChannels = args.outChannels,
          volume = args.kernelVolume, maskWords = args.maskWords, splits = args.splits;
  DeviceBuffer partials;
  if (split)
    partials = DeviceBuffer(static_cast<size_t>(splits) * outputs * outChannels * sizeof(float), stream);
  CUdeviceptr partialsPointer = partials.get();


  std::vector<void *> parameters = {&input,   &weight,     split ? &partialsPointer : &output,
                                    &outputs, &inChannels, &outChannels,
                                    &volume};
  parameters.insert(parameters.begin() + 2, &map);
  if (sorted || split) {
    parameters.push_back(&permutation);
    parameters.push_back(&tileMasks);
    parameters.push_back(&maskWords);
  }
  if (split)
    parameters.push_back(&splits);
  else
    pushEpilogueParameters(kernel, parameters, bias, scale, shift, residual);
  launch(context, loaded.function, name, gridX, gridY, split ? static_cast<unsigned>(splits) : 1u,
         kernel.threads_per_block, kernel.shared_memory_bytes, stream, parameters, loaded.imageDescription);

  if (split)
    launchReduction(context, kernel, loaded, partialsPointer, args, splits, stream);
}

} // namespace sparsekgen
