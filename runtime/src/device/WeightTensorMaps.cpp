// Tensor maps of convolution weights for the kernels that load their weight tiles by TMA
// (warpgroup_mma_tma). A map holds only the weight's address, shape and box: it stays valid while
// the weight lives at that address, whatever the values, so one encoding serves every launch.
#include <fmt/format.h>

#include "sparsekgen/Context.h"
#include "sparsekgen/WeightTensorMapLayout.h"

namespace sparsekgen {

CUdeviceptr Context::weightTensorMap(CUdeviceptr weight, uint32_t dtype, int volume, int in, int out) {
  std::lock_guard lock(mutex_);
  const auto key = std::make_tuple(weight, dtype, volume, in, out);
  if (auto found = weightTensorMaps_.find(key); found != weightTensorMaps_.end())
    return found->second.get();
  const WeightTensorMapLayout layout = weightTensorMapLayout(weight, dtype, volume, in, out);
  const cuuint32_t elementStrides[3] = {1, 1, 1};
  CUtensorMap map;
  checkCuda(cuCtxSetCurrent(context_), "cuCtxSetCurrent");
  // Elements past Cout, Cin or the offsets read as zero (OOB fill NONE fills zeros; the NaN
  // request would fill NaN).
  checkCuda(cuTensorMapEncodeTiled(&map, dtype == SKG_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
                                   3, reinterpret_cast<void *>(weight), layout.dims.data(), layout.strides.data(),
                                   layout.box.data(), elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                   CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                   CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
            "cuTensorMapEncodeTiled", fmt::format("(weight [{}, {}, {}])", volume, in, out));
  DeviceBuffer device(sizeof(map));
  device.upload(&map, sizeof(map));
  return weightTensorMaps_.emplace(key, std::move(device)).first->second.get();
}

} // namespace sparsekgen
