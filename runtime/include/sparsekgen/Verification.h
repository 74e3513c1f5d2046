// One forward-convolution problem with random data in a kernel's types, its float64 reference,
// and a checked GPU run: shared by the demo, the GPU tests and the benchmarks so all of them
// verify the same way.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "sparsekgen/Conv.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/KernelMap.h"
#include "sparsekgen/Reference.h"

namespace sparsekgen {

// Element types and fused epilogue of a kernel (skg_dtype / skg_epilogue_op values).
struct ConvTypes {
  uint32_t operand = SKG_F16, output = SKG_F16;
  std::vector<uint32_t> epilogueOps;
};
ConvTypes convTypesOf(const skg_kernel_record &kernel);

struct ConvProblem {
  KernelMap map;
  int inChannels = 0, outChannels = 0;
  ConvTypes types;
  std::vector<float> input;  // [inputs, Cin], uniform in [-1, 1], representable in the operand type
  std::vector<float> weight; // [volume, Cin, Cout], scaled so outputs stay O(1), representable likewise
  EpilogueReference epilogue;

  std::vector<double> reference() const; // float64, from the values the kernel reads
};

ConvProblem makeConvProblem(const std::vector<Coordinate> &coordinates, const ConvGeometry &geometry,
                            int inChannels, int outChannels, uint32_t seed, const ConvTypes &types = {});
// The same over a map built elsewhere (strided, transposed, or shared by several layers).
ConvProblem makeConvProblem(KernelMap map, int inChannels, int outChannels, uint32_t seed, const ConvTypes &types = {});

// The problem's tensors on the device, an output buffer, and the sort inputs of sorted and split
// kernels (built on first use per (splits, tile rows)).
struct DeviceConvProblem {
  const ConvProblem *problem = nullptr;
  DeviceBuffer input, weight, outInMap, output, bias, scale, shift, residual;
  ConvForwardArguments args;
  std::map<std::pair<int, int>, std::pair<DeviceBuffer, DeviceBuffer>> sortInputs;
  std::vector<int32_t> pairOffsets; // fetch-on-demand pair lists, built on first use
  DeviceBuffer pairInputs, pairOutputs;
};
DeviceConvProblem uploadConvProblem(const ConvProblem &problem);

// The arguments for `kernel`: sorted kernels get the sort permutation and tile masks of one split,
// split kernels those of `splits`, fetch-on-demand kernels the pair lists.
ConvForwardArguments argumentsFor(DeviceConvProblem &problem, const skg_kernel_record &kernel, int splits = 3);

struct ConvCheck {
  double relativeError = 0;    // ||out - ref|| / ||ref||, infinity if anything is not finite
  long long unwrittenRows = 0; // rows still holding the NaN poison
};

// Poisons the output with NaNs, runs `kernel`, and returns the output decoded to floats.
std::vector<float> runForOutput(Context &context, const skg_kernel_record &kernel, DeviceConvProblem &problem,
                                int splits = 3);

// runForOutput, compared with `reference`.
ConvCheck runAndCheck(Context &context, const skg_kernel_record &kernel, DeviceConvProblem &problem,
                      const std::vector<double> &reference, int splits = 3);

// The times in milliseconds of `iterations` runs of `launch` after `warmup` runs, measured with CUDA
// events around each run on `stream`; medianMilliseconds is their median.
template <typename Launch>
std::vector<float> eventMilliseconds(Launch &&launch, int warmup, int iterations, CUstream stream = nullptr);
template <typename Launch>
double medianMilliseconds(Launch &&launch, int warmup, int iterations, CUstream stream = nullptr);

double medianOfEventTimes(const std::vector<float> &milliseconds);

// The spread of a run's times: median and the 10th and 90th percentiles (nearest rank).
struct TimeSpread {
  double median = 0, p10 = 0, p90 = 0;
};
TimeSpread spreadOfEventTimes(const std::vector<float> &milliseconds);

} // namespace sparsekgen

#include "sparsekgen/VerificationTiming.inl"
