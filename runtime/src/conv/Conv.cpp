#include "sparsekgen/Conv.h"

#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

static_assert(std::is_same_v<CUdeviceptr, DevicePointer>, "DevicePointer must be the driver API's CUdeviceptr");

namespace {

bool synchronousLaunches() {
  const char *value = std::getenv("SPARSEKGEN_SYNC_LAUNCHES");
  return value && *value && std::strcmp(value, "0") != 0;
}

// Binds `function` of the loaded kernel by name and launches it with its recorded grid rule.
void launch(Context &context, const LoadedKernel &loaded, const skg_kernel_function &function,
            const LaunchArguments &arguments, const GridSizes &sizes, CUstream stream) {
  std::vector<void *> parameters = arguments.bind(*loaded.record, function);
  LaunchShape shape = launchShape(function, sizes);
  // Formatted only for a message: this runs for every launch of every layer.
  auto description = [&] {
    return fmt::format("of {} (grid {}x{}x{}, block {}x1x1, {} bytes dynamic shared memory, {})", function.name,
                       shape.grid[0], shape.grid[1], shape.grid[2], shape.threads, shape.sharedBytes,
                       loaded.imageDescription);
  };
  checkCuda(cuCtxSetCurrent(context.handle()), "cuCtxSetCurrent");
  CUresult launched = cuLaunchKernel(loaded.function(function), shape.grid[0], shape.grid[1], shape.grid[2],
                                     shape.threads, 1, 1, shape.sharedBytes, stream, parameters.data(), nullptr);
  if (launched != CUDA_SUCCESS)
    checkCuda(launched, "cuLaunchKernel", description());
  if (synchronousLaunches())
    checkCuda(cuStreamSynchronize(stream), "cuStreamSynchronize", "after the launch " + description());
}

// The forward launch sequence, which input-gradient kernels share (they are forward convolutions
// on the transposed map).
void convolve(Context &context, const skg_kernel_record &kernel, const ConvForwardArguments &args,
              skg_operation operation, CUstream stream) {
  checkConvArguments(kernel, args, operation);
  if (args.outputs == 0)
    return; // nothing to compute; a zero-sized grid is not a valid launch
  const DataflowInfo &info = dataflowInfo(kernel.dataflow);
  const LoadedKernel &loaded = context.load(kernel);
  LaunchArguments arguments = callArguments(kernel, args);
  if (takesWeightTensorMap(kernel))
    arguments.setPointer("weight_map", context.weightTensorMap(args.weight, kernel.operand_type, args.kernelVolume,
                                                               args.inChannels, args.outChannels));
  GridSizes sizes{args.outputs, args.inChannels, args.outChannels, launchSplits(kernel, args), 0, args.pairCount()};

  std::vector<DeviceBuffer> scratch; // kept alive until the launches are ordered on the stream
  for (const ScratchBuffer &buffer : scratchBuffers(kernel, args)) {
    scratch.emplace_back(buffer.bytes, stream);
    if (buffer.zeroed)
      scratch.back().fill32(0, stream);
    arguments.setPointer(buffer.name, scratch.back().get());
  }
  const bool pairs = args.pairCount() > 0;
  auto companion = [&](CompanionKernel kind, skg_function_role role, bool run) {
    if (info.has(kind) && run)
      launch(context, loaded, *findFunction(kernel, role), arguments, sizes, stream);
  };

  companion(CompanionKernel::Gather, SKG_FUNCTION_GATHER, pairs);
  const skg_kernel_function &main = mainFunction(kernel);
  if (info.pairTiled()) {
    for (const auto &offsets : pairTileLaunchGroups(info.pairTileLaunches, args.pairOffsets)) {
      PairTileList tiles = tilePairs(offsets, args.pairOffsets, main.rows_per_block);
      if (tiles.count == 0)
        continue;
      scratch.push_back(DeviceBuffer::from(tiles.arrays, stream));
      setTileArrays(arguments, scratch.back().get(), tiles.count);
      sizes.pairTiles = tiles.count;
      launch(context, loaded, main, arguments, sizes, stream);
    }
  } else {
    launch(context, loaded, main, arguments, sizes, stream);
  }
  companion(CompanionKernel::Scatter, SKG_FUNCTION_SCATTER, pairs);
  companion(CompanionKernel::Reduce, SKG_FUNCTION_REDUCE, true);
}

void convWeightGrad(Context &context, const skg_kernel_record &kernel, const ConvBackwardArguments &args,
                    CUstream stream) {
  checkWeightGradArguments(kernel, args);
  if (args.pairCount() == 0) { // no pair contributes: dW = 0
    const size_t weights = static_cast<size_t>(args.kernelVolume) * args.inChannels * args.outChannels;
    checkCuda(cuCtxSetCurrent(context.handle()), "cuCtxSetCurrent");
    checkCuda(cuMemsetD32Async(args.weightGrad, 0, weights, stream), "cuMemsetD32Async",
              fmt::format("zeroing the weight gradient of {}", kernel.name));
    return;
  }
  const LoadedKernel &loaded = context.load(kernel);
  WeightGradChunks chunks =
      weightGradChunks(args.pairOffsets, weightGradSplits(kernel, args), args.weightGradChunkPairs);
  checkWeightGradReach(kernel, args, chunks.count);
  LaunchArguments arguments = weightGradCallArguments(args);
  // Kept alive until the launches are ordered on the stream.
  DeviceBuffer chunkArrays = DeviceBuffer::from(chunks.arrays, stream);
  DeviceBuffer partials(static_cast<size_t>(chunks.count) * args.inChannels * args.outChannels * sizeof(float), stream);
  setTileArrays(arguments, chunkArrays.get(), chunks.count);
  arguments.setPointer(kTileFirst, chunkArrays.get() + 12ull * chunks.count);
  arguments.setPointer(kPartials, partials.get());
  GridSizes sizes{0, args.inChannels, args.outChannels, 1, chunks.count, args.pairCount(), args.kernelVolume};
  launch(context, loaded, mainFunction(kernel), arguments, sizes, stream);
  launch(context, loaded, *findFunction(kernel, SKG_FUNCTION_REDUCE), arguments, sizes, stream);
}

} // namespace

void convForward(Context &context, const skg_kernel_record &kernel, const ConvForwardArguments &args,
                 CUstream stream) {
  convolve(context, kernel, args, SKG_FORWARD, stream);
}

void convBackward(Context &context, const skg_kernel_record *inputGradKernel,
                  const skg_kernel_record *weightGradKernel, const ConvBackwardArguments &args, CUstream stream) {
  if (inputGradKernel)
    convolve(context, *inputGradKernel, inputGradCall(args), SKG_INPUT_GRAD, stream);
  if (weightGradKernel)
    convWeightGrad(context, *weightGradKernel, args, stream);
}

} // namespace sparsekgen
