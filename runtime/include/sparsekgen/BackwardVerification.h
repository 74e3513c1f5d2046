// One convolution's backward problem with random data in a kernel's types, its float64 references
// (input and weight gradients), and checked GPU runs through convBackward: shared by the GPU tests
// and the benchmarks so both verify the same way (the forward's counterpart is Verification.h).
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "sparsekgen/Verification.h"

namespace sparsekgen {

struct ConvBackwardProblem {
  KernelMap map;        // the forward's map
  KernelMap transposed; // the input gradient's: transposedKernelMapCpu(map, the input coordinates)
  int inChannels = 0, outChannels = 0;
  uint32_t operand = SKG_F16;
  std::vector<float> input;      // x [inputs, Cin], representable in the operand type
  std::vector<float> weight;     // W [volume, Cin, Cout]
  std::vector<float> outputGrad; // dy [outputs, Cout]

  std::vector<double> inputGradReference() const;  // float64, from the values the kernels read
  std::vector<double> weightGradReference() const; // float64
};

ConvBackwardProblem makeConvBackwardProblem(const std::vector<Coordinate> &coordinates, const ConvGeometry &geometry,
                                            int inChannels, int outChannels, uint32_t seed, uint32_t operand);
// The same over a map built elsewhere (a network's maps): the transposed map's coordinates, which
// no computation reads, are left at zero.
ConvBackwardProblem makeConvBackwardProblem(KernelMap map, int inChannels, int outChannels, uint32_t seed,
                                            uint32_t operand);

// The problem's tensors on the device, gradient buffers (dx in each output type asked for), the
// pair lists and the transposed map, and the transposed map's sort inputs per (splits, tile rows).
struct DeviceConvBackwardProblem {
  const ConvBackwardProblem *problem = nullptr;
  DeviceBuffer input, weight, outputGrad, weightGrad, transposedMap, pairInputs, pairOutputs;
  std::map<uint32_t, DeviceBuffer> inputGrads; // by output type
  std::vector<int32_t> pairOffsets;
  std::map<std::pair<int, int>, std::pair<DeviceBuffer, DeviceBuffer>> sortInputs;
  ConvBackwardArguments args;
};
DeviceConvBackwardProblem uploadConvBackwardProblem(const ConvBackwardProblem &problem);

// The arguments for `kernel` (input_grad or weight_grad): the gradient it writes, and for sorted
// and split input-gradient kernels the transposed map's sort inputs of `splits`.
ConvBackwardArguments backwardArgumentsFor(DeviceConvBackwardProblem &problem, const skg_kernel_record &kernel,
                                           int splits = 3);

// Poisons the gradient `kernel` writes with NaNs, runs it through convBackward (input gradients of
// split dataflows with `splits`, weight gradients with `splits` chunks per offset, 0 = the runtime's
// choice) and returns the gradient decoded to floats.
std::vector<float> runBackwardForOutput(Context &context, const skg_kernel_record &kernel,
                                        DeviceConvBackwardProblem &problem, int splits);

// Poisons the gradient `kernel` writes with NaNs, runs it through convBackward (weight gradients
// with `weightGradSplits` chunks per offset, 0 = the runtime's choice), and compares it with its
// float64 reference. `output`, when given, receives the gradient decoded to floats.
ConvCheck runBackwardAndCheck(Context &context, const skg_kernel_record &kernel, DeviceConvBackwardProblem &problem,
                              const std::vector<double> &reference, int weightGradSplits = 0,
                              std::vector<float> *output = nullptr);

} // namespace sparsekgen
