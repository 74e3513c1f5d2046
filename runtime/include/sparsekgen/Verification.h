// One forward-convolution problem with random data, its float64 reference, and a checked GPU run:
// shared by the demo, the GPU tests and the benchmarks so all three verify the same way.
#pragma once

#include <cstdint>
#include <vector>

#include "sparsekgen/Conv.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/KernelMap.h"

namespace sparsekgen {

struct ConvProblem {
  KernelMap map;
  int inChannels = 0, outChannels = 0;
  std::vector<uint16_t> input;  // fp16 bits [inputs, Cin], uniform in [-1, 1]
  std::vector<uint16_t> weight; // fp16 bits [volume, Cin, Cout], scaled so outputs stay O(1)

  std::vector<double> reference() const; // float64, from the fp16 values exactly
};

ConvProblem makeConvProblem(const std::vector<Coordinate> &coordinates, const ConvGeometry &geometry,
                            int inChannels, int outChannels, uint32_t seed);

// The problem's tensors on the device, and an output buffer.
struct DeviceConvProblem {
  DeviceBuffer input, weight, outInMap, output;
  ConvForwardArguments args;
};
DeviceConvProblem uploadConvProblem(const ConvProblem &problem);

struct ConvCheck {
  double relativeError = 0;   // ||out - ref|| / ||ref||, infinity if anything is not finite
  long long unwrittenRows = 0; // rows still holding the NaN poison
};

// Poisons the output with NaNs, runs `kernel`, and compares with `reference`.
ConvCheck runAndCheck(Context &context, const skg_kernel_record &kernel, DeviceConvProblem &problem,
                      const std::vector<double> &reference);

// Median time in milliseconds of `launch` over `iterations` runs after `warmup` runs, measured with
// CUDA events around each run on `stream`.
template <typename Launch>
double medianMilliseconds(Launch &&launch, int warmup, int iterations, CUstream stream = nullptr);

double medianOfEventTimes(const std::vector<float> &milliseconds);

} // namespace sparsekgen

#include "sparsekgen/VerificationTiming.inl"
