// The TMA tensor map of a convolution weight, as Context::weightTensorMap encodes it for the
// warpgroup_mma_tma kernels: extents innermost first, byte strides, 64 x 64 x 1 boxes, and the
// shapes TMA cannot describe refused with the shape named.
#include <gtest/gtest.h>

#include <string>

#include "sparsekgen/Errors.h"
#include "sparsekgen/KernelEnums.h"
#include "sparsekgen/WeightTensorMapLayout.h"

namespace sparsekgen {
namespace {

TEST(WeightTensorMapLayout, ExtentsRunInnermostFirstWithByteStrides) {
  const auto layout = weightTensorMapLayout(0x10000, SKG_F16, 27, 96, 136);
  EXPECT_EQ(layout.dims, (std::array<uint64_t, 3>{136, 96, 27}));
  EXPECT_EQ(layout.strides, (std::array<uint64_t, 2>{136 * 2, 136 * 96 * 2}));
  EXPECT_EQ(layout.box, (std::array<uint32_t, 3>{64, 64, 1}));
  EXPECT_EQ(weightTensorMapLayout(0x10000, SKG_BF16, 8, 256, 256).strides[1], 256u * 256u * 2u);
}

std::string refusal(uint64_t address, uint32_t dtype, int volume, int in, int out) {
  try {
    weightTensorMapLayout(address, dtype, volume, in, out);
  } catch (const RuntimeError &error) {
    return error.what();
  }
  return "";
}

TEST(WeightTensorMapLayout, ShapesTmaCannotDescribeAreRefusedByName) {
  EXPECT_NE(refusal(0x10000, SKG_F16, 27, 64, 60).find("[27, 64, 60]"), std::string::npos);
  EXPECT_NE(refusal(0x10000, SKG_F16, 27, 64, 60).find("multiple of 8"), std::string::npos);
  EXPECT_NE(refusal(0x10008, SKG_F16, 27, 64, 64).find("16-byte aligned"), std::string::npos);
  EXPECT_NE(refusal(0x10000, SKG_F32, 27, 64, 64).find("f32"), std::string::npos);
  EXPECT_NE(refusal(0x10000, SKG_F16, 0, 64, 64).find("positive"), std::string::npos);
}

} // namespace
} // namespace sparsekgen
