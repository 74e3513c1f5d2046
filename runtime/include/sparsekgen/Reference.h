// The float64 CPU reference convolution every kernel is verified against.
#pragma once

#include <vector>

#include "sparsekgen/KernelMap.h"

namespace sparsekgen {

// out[j][co] = sum_k sum_ci input[map(j, k)][ci] * weight[k][ci][co], in double precision.
// input: [map.inputCount, inChannels]; weight: [map.volume, inChannels, outChannels].
std::vector<double> referenceConvForward(const std::vector<float> &input, const std::vector<float> &weight,
                                         const KernelMap &map, int inChannels, int outChannels);

// ||actual - expected||_2 / ||expected||_2; infinity if any value of `actual` is not finite.
double relativeError(const std::vector<float> &actual, const std::vector<double> &expected);

} // namespace sparsekgen
