// The float64 CPU reference convolution every kernel is verified against.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sparsekgen/KernelMap.h"

namespace sparsekgen {

// out[j][co] = sum_k sum_ci input[map(j, k)][ci] * weight[k][ci][co], in double precision.
// input: [map.inputCount, inChannels]; weight: [map.volume, inChannels, outChannels].
std::vector<double> referenceConvForward(const std::vector<float> &input, const std::vector<float> &weight,
                                         const KernelMap &map, int inChannels, int outChannels);
// The same from float64 inputs (the layers of a float64 network run).
std::vector<double> referenceConvForward(const std::vector<double> &input, const std::vector<float> &weight,
                                         const KernelMap &map, int inChannels, int outChannels);

// The backward pass of referenceConvForward, in double precision, for the output gradient
// outputGrad [map.outputCount(), outChannels]:
//   input gradient  dx[i][ci] = sum over (j, k) with map(j, k) = i of sum_co dy[j][co] * W[k][ci][co]
//   weight gradient dW[k][ci][co] = sum over j with map(j, k) >= 0 of x[map(j, k)][ci] * dy[j][co]
std::vector<double> referenceConvInputGrad(const std::vector<float> &outputGrad, const std::vector<float> &weight,
                                           const KernelMap &map, int inChannels, int outChannels);
std::vector<double> referenceConvWeightGrad(const std::vector<float> &input, const std::vector<float> &outputGrad,
                                            const KernelMap &map, int inChannels, int outChannels);
// The same from float64 tensors (the layers of a float64 network backward).
std::vector<double> referenceConvInputGrad(const std::vector<double> &outputGrad, const std::vector<float> &weight,
                                           const KernelMap &map, int inChannels, int outChannels);
std::vector<double> referenceConvWeightGrad(const std::vector<double> &input, const std::vector<double> &outputGrad,
                                            const KernelMap &map, int inChannels, int outChannels);
// With float64 weights too (the Python package's CPU path, which autograd checks in float64).
std::vector<double> referenceConvForward(const std::vector<double> &input, const std::vector<double> &weight,
                                         const KernelMap &map, int inChannels, int outChannels);
std::vector<double> referenceConvInputGrad(const std::vector<double> &outputGrad, const std::vector<double> &weight,
                                           const KernelMap &map, int inChannels, int outChannels);

// The fused epilogue in double precision, ops (skg_epilogue_op values) in order: bias, scale and
// shift are [outChannels], residual is [rows, outChannels]; unused ones may be empty.
struct EpilogueReference {
  std::vector<uint32_t> ops;
  std::vector<float> bias, scale, shift, residual;
};
// The skg_epilogue_op of "bias", "scale_shift", "relu" or "residual_add"; RuntimeError otherwise.
uint32_t epilogueOpFromName(const std::string &name);

void applyEpilogueReference(std::vector<double> &values, int outChannels, const EpilogueReference &epilogue);

// ||actual - expected||_2 / ||expected||_2; infinity if any value of `actual` is not finite.
double relativeError(const std::vector<float> &actual, const std::vector<double> &expected);

} // namespace sparsekgen
