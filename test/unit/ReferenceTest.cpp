#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Reference.h"

namespace sparsekgen {
namespace {

TEST(Reference, HandComputedOnALine) {
  std::vector<Coordinate> points = {{0, 0, 0, 0}, {0, 1, 0, 0}};
  auto map = buildKernelMapCpu(points, ConvGeometry{{3, 1, 1}, {1, 1, 1}, {1, 1, 1}});
  // Cin = 1, Cout = 2; W[k] = [[k + 1, 10 (k + 1)]].
  std::vector<float> input = {2.0f, 3.0f};
  std::vector<float> weight = {1, 10, 2, 20, 3, 30};
  auto out = referenceConvForward(input, weight, map, 1, 2);
  // out[0] = in[0] * W[1] + in[1] * W[2] = 2 * (2, 20) + 3 * (3, 30)
  // out[1] = in[0] * W[0] + in[1] * W[1] = 2 * (1, 10) + 3 * (2, 20)
  EXPECT_EQ(out, (std::vector<double>{13, 130, 8, 80}));
}

TEST(Reference, RelativeErrorFlagsNonFiniteValues) {
  EXPECT_EQ(relativeError({1.0f, std::nanf("")}, {1.0, 1.0}), std::numeric_limits<double>::infinity());
  EXPECT_NEAR(relativeError({1.0f, 1.0f}, {1.0, 1.0}), 0.0, 1e-12);
  EXPECT_NEAR(relativeError({1.1f, 1.0f}, {1.0, 1.0}), 0.1 / std::sqrt(2.0), 1e-6);
}

TEST(Half, ConversionsRoundTripAndRound) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f})
    EXPECT_EQ(halfToFloat(floatToHalf(v)), v) << v;
  EXPECT_EQ(floatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(floatToHalf(1.0f + 1.0f / 4096), 0x3c00); // ties to even
  EXPECT_TRUE(std::isinf(halfToFloat(floatToHalf(1e6f))));
  EXPECT_TRUE(std::isnan(halfToFloat(0xFFFF))); // the output poison
}

} // namespace
} // namespace sparsekgen
