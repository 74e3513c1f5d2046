// The R-GCN's own device work besides the generated kernels (RelationGraphGpu.cu).
#pragma once

#include <cstdint>

#include <cuda.h>

#include "sparsekgen/LaunchArguments.h"

namespace sparsekgen {

// out[p] = weights[p] * rows[pairRows[p]] for p < pairs, [pairs, channels] in `dtype` (skg_dtype):
// the weight gradient's dy rows, one per pair, scaled by the pair's normalisation.
void gatherWeightedRows(DevicePointer rows, DevicePointer pairRows, DevicePointer weights, long long pairs,
                        int channels, uint32_t dtype, DevicePointer out, CUstream stream);

} // namespace sparsekgen
