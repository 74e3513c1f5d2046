#include "sparsekgen/Conv.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

constexpr const char *kImplicitGemmForwardAbi = "implicit_gemm_forward.v1";
// The kernels index with 32 bits (generator/include/sparsekgen/generator/KernelBuilder.h).
constexpr long long kMaxElements = std::numeric_limits<int32_t>::max();

void checkElements(const char *tensor, long long rows, long long columns, const char *kernel) {
  if (rows * columns > kMaxElements)
    throw RuntimeError(fmt::format("{}: {} has {} x {} elements; kernels index with 32 bits, so at most {} fit",
                                   kernel, tensor, rows, columns, kMaxElements));
}

void checkAlignment(const char *tensor, CUdeviceptr pointer, unsigned bytes, const char *kernel) {
  if (pointer % bytes != 0)
    throw RuntimeError(fmt::format("{}: {} pointer 0x{:x} is not {}-byte aligned", kernel, tensor, pointer, bytes));
}

bool synchronousLaunches() {
  const char *value = std::getenv("SPARSEKGEN_SYNC_LAUNCHES");
  return value && std::strcmp(value, "0") != 0 && *value;
}

} // namespace

void convForward(Context &context, const skg_kernel_record &kernel, const ConvForwardArguments &args,
                 CUstream stream) {
  const char *name = kernel.name;
  if (std::strcmp(kernel.launch_abi, kImplicitGemmForwardAbi) != 0)
    throw RuntimeError(fmt::format("{}: launch ABI {} is not a forward convolution ABI this runtime knows ({})", name,
                                   kernel.launch_abi, kImplicitGemmForwardAbi));
  if (args.inputs < 0 || args.outputs < 0 || args.kernelVolume <= 0 || args.inChannels <= 0 || args.outChannels <= 0)
    throw RuntimeError(fmt::format("{}: invalid sizes: inputs {}, outputs {}, kernel volume {}, Cin {}, Cout {}", name,
                                   args.inputs, args.outputs, args.kernelVolume, args.inChannels, args.outChannels));
  for (auto [label, channels] : {std::pair{"Cin", args.inChannels}, std::pair{"Cout", args.outChannels}})
    if (channels % 8 != 0)
      throw RuntimeError(fmt::format("{}: {} = {} is not a multiple of 8; the implicit GEMM kernels of this release "
                                     "copy 16-byte rows and need Cin and Cout multiples of 8",
                                     name, label, channels));
  checkElements("input", args.inputs, args.inChannels, name);
  checkElements("out_in_map", args.outputs, args.kernelVolume, name);
  checkElements("output", args.outputs, args.outChannels, name);
  checkElements("weight", static_cast<long long>(args.kernelVolume) * args.inChannels, args.outChannels, name);
  checkAlignment("input", args.input, 16, name);
  checkAlignment("weight", args.weight, 16, name);
  checkAlignment("out_in_map", args.outInMap, 4, name);
  checkAlignment("output", args.output, 4, name);
  if (args.outputs == 0)
    return; // nothing to compute; a zero-sized grid is not a valid launch

  const LoadedKernel &loaded = context.load(kernel);
  unsigned gridX = static_cast<unsigned>((args.outputs + kernel.rows_per_block - 1) / kernel.rows_per_block);
  unsigned gridY = static_cast<unsigned>((args.outChannels + kernel.columns_per_block - 1) / kernel.columns_per_block);
  CUdeviceptr input = args.input, weight = args.weight, map = args.outInMap, output = args.output;
  int32_t outputs = args.outputs, inChannels = args.inChannels, outChannels = args.outChannels,
          volume = args.kernelVolume;
  void *parameters[] = {&input, &weight, &map, &output, &outputs, &inChannels, &outChannels, &volume};
  std::string launch = fmt::format("of {} (grid {}x{}x1, block {}x1x1, {} bytes dynamic shared memory, {})", name,
                                   gridX, gridY, kernel.threads_per_block, kernel.shared_memory_bytes,
                                   loaded.imageDescription);
  checkCuda(cuCtxSetCurrent(context.handle()), "cuCtxSetCurrent");
  checkCuda(cuLaunchKernel(loaded.function, gridX, gridY, 1, kernel.threads_per_block, 1, 1,
                           kernel.shared_memory_bytes, stream, parameters, nullptr),
            "cuLaunchKernel", launch);
  if (synchronousLaunches())
    checkCuda(cuStreamSynchronize(stream), "cuStreamSynchronize", "after the launch " + launch);
}

} // namespace sparsekgen
