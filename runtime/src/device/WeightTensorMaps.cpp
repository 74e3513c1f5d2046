// Tensor maps of convolution weights for the kernels that load their weight tiles by TMA
// (warpgroup_mma_tma). A map holds only the weight's address, shape and box: it stays valid while
// the weight lives at that address, whatever the values, so one encoding serves every launch.
#include <fmt/format.h>

#include "sparsekgen/Context.h"
#include "sparsekgen/EnumNames.h"

namespace sparsekgen {

namespace {
constexpr cuuint32_t kBoxEdge = 64; // 64 16-bit elements: one 128-byte swizzle row
} // namespace

CUdeviceptr Context::weightTensorMap(CUdeviceptr weight, uint32_t dtype, int volume, int in, int out) {
  std::lock_guard lock(mutex_);
  const auto key = std::make_tuple(weight, dtype, volume, in, out);
  if (auto found = weightTensorMaps_.find(key); found != weightTensorMaps_.end())
    return found->second.get();
  auto fail = [&](const std::string &why) {
    return RuntimeError(fmt::format("a TMA tensor map of the weight [{}, {}, {}] at 0x{:x}: {}", volume, in, out,
                                    weight, why));
  };
  CUtensorMapDataType type;
  if (dtype == SKG_F16)
    type = CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  else if (dtype == SKG_BF16)
    type = CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  else
    throw fail(fmt::format("{} weights have no warpgroup-MMA kernels", dtype < dtypeSpellings().size() ? dtypeSpellings()[dtype] : "unknown"));
  // TMA needs 16-byte aligned addresses and row strides.
  if (weight % 16 != 0 || out % 8 != 0 || volume <= 0 || in <= 0 || out <= 0)
    throw fail("the address must be 16-byte aligned and out channels a positive multiple of 8");
  const cuuint64_t elementBytes = 2;
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(out), static_cast<cuuint64_t>(in),
                              static_cast<cuuint64_t>(volume)};                           // innermost first
  const cuuint64_t strides[2] = {dims[0] * elementBytes, dims[0] * dims[1] * elementBytes}; // bytes, dims 1 and 2
  const cuuint32_t box[3] = {kBoxEdge, kBoxEdge, 1};
  const cuuint32_t elementStrides[3] = {1, 1, 1};
  CUtensorMap map;
  checkCuda(cuCtxSetCurrent(context_), "cuCtxSetCurrent");
  // Elements past Cout, Cin or the offsets read as zero (OOB fill NONE fills zeros; the NaN
  // request would fill NaN).
  checkCuda(cuTensorMapEncodeTiled(&map, type, 3, reinterpret_cast<void *>(weight), dims, strides, box, elementStrides,
                                   CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                   CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
            "cuTensorMapEncodeTiled", fmt::format("(weight [{}, {}, {}])", volume, in, out));
  DeviceBuffer device(sizeof(map));
  device.upload(&map, sizeof(map));
  return weightTensorMaps_.emplace(key, std::move(device)).first->second.get();
}

} // namespace sparsekgen
