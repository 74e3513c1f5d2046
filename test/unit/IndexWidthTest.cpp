// Which layers need 64-bit kernels, and how dispatch finds them: the tensor sizes that decide it,
// the twin of a chosen kernel, the heuristic among 64-bit kernels, and the error without any.
#include <limits>

#include <gtest/gtest.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/IndexWidth.h"

namespace sparsekgen {
namespace {

KernelDescription kernel(std::string name, std::string dataflow, int indexBits, int m = 128, int n = 128) {
  KernelDescription k;
  k.name = std::move(name);
  k.dataflow = std::move(dataflow);
  k.operand = k.output = "f16";
  k.math = "tensor_core";
  k.tileM = m;
  k.tileN = n;
  k.stages = 3;
  k.indexBits = indexBits;
  return k;
}

const DataflowInfo &info(const char *spelling) { return *findDataflow(spelling); }

// 10M voxels at 256 channels: 2.56e9 elements per feature tensor.
constexpr long long kVoxels = 10'000'000;
const LayerExtents kWide{kVoxels, kVoxels, 9 * kVoxels};
const LayerExtents kNarrow{100'000, 100'000, 900'000};
LayerKey key256() { return layerKey(256, 256, 27, false, "f16", {}, kVoxels, 9 * kVoxels); }

TEST(IndexWidth, LargestTensorCountsOperandsMapOutputAndScratch) {
  // Input 64,000 elements, map 54,000, output 32,000, weights 27,648.
  const ConvShape shape{1000, 2000, 64, 16, 27, 1, 50000};
  auto largest = largestIndexedTensor(info("implicit_gemm"), SKG_FORWARD, shape);
  EXPECT_EQ(largest.name, "input");
  EXPECT_EQ(largest.elements, 64000);
  largest = largestIndexedTensor(info("implicit_gemm"), SKG_FORWARD, {1000, 4000, 8, 8, 27, 1, 0});
  EXPECT_EQ(largest.name, "out_in_map");
  EXPECT_EQ(largest.elements, 4000LL * 27);
  // Gather-GEMM-scatter stages every pair's input row and product row.
  largest = largestIndexedTensor(info("gather_gemm_scatter"), SKG_FORWARD, shape);
  EXPECT_EQ(largest.name, "gathered");
  EXPECT_EQ(largest.elements, 50000LL * 64);
  // Split-mask partials hold a slab per split.
  largest = largestIndexedTensor(info("implicit_gemm_split"), SKG_FORWARD, {1000, 2000, 8, 32, 27, 4, 0});
  EXPECT_EQ(largest.name, "partials");
  EXPECT_EQ(largest.elements, 4LL * 2000 * 32);
  // Weight gradients: partials of every K chunk.
  largest = largestIndexedTensor(info("pair_split_k"), SKG_WEIGHT_GRAD, {10, 10, 64, 64, 27, 270, 100});
  EXPECT_EQ(largest.name, "partials");
  EXPECT_EQ(largest.elements, 270LL * 64 * 64);
}

TEST(IndexWidth, SizesSaturateInsteadOfOverflowing) {
  const ConvShape huge{1LL << 40, 1LL << 40, 1LL << 31, 1LL << 31, 1LL << 20, 1, 0};
  EXPECT_EQ(largestIndexedTensor(info("implicit_gemm"), SKG_FORWARD, huge).elements,
            std::numeric_limits<long long>::max());
}

TEST(IndexWidth, ThirtyTwoBitsReachTwoToTheThirtyOneMinusOneElements) {
  EXPECT_TRUE(reaches(32, SKG_MAX_32BIT_ELEMENTS));
  EXPECT_FALSE(reaches(32, SKG_MAX_32BIT_ELEMENTS + 1));
  EXPECT_TRUE(reaches(64, SKG_MAX_32BIT_ELEMENTS + 1));
}

TEST(IndexWidth, InputGradientShapesSwapRowsAndChannels) {
  LayerKey key = operationKey(layerKey(32, 256, 27, false, "f16", {}, 500, 4000), "input_grad");
  ConvShape shape = operationShape(key, {2000, 500, 4000}, info("implicit_gemm"), 1);
  EXPECT_EQ(shape.inputs, 500);   // dy rows
  EXPECT_EQ(shape.outputs, 2000); // dx rows
  EXPECT_EQ(shape.inChannels, 256);
  EXPECT_EQ(shape.outChannels, 32);
}

TEST(IndexWidth, SmallLayersKeepTheirThirtyTwoBitKernel) {
  const std::vector<KernelDescription> kernels = {kernel("k", "implicit_gemm", 32), kernel("k_i64", "implicit_gemm", 64)};
  const LayerKey key = layerKey(256, 256, 27, false, "f16", {}, kNarrow.outputs, kNarrow.pairs);
  Dispatch chosen = heuristicChoice(key, kernels);
  EXPECT_EQ(chosen.choice.kernel, "k"); // the 64-bit kernel fits too, but is never preferred
  EXPECT_EQ(widenWhereNeeded(chosen, key, kNarrow, kernels).choice.kernel, "k");
}

TEST(IndexWidth, LargeLayersTakeTheTwinOfTheChosenKernel) {
  const std::vector<KernelDescription> kernels = {kernel("a", "implicit_gemm", 32), kernel("b", "implicit_gemm", 32, 64),
                                                  kernel("a_i64", "implicit_gemm", 64, 64, 64),
                                                  kernel("b_i64", "implicit_gemm", 64, 64)};
  Dispatch tuned{Dispatch::Source::Exact, {"b", 1}, "exact entry 0"};
  Dispatch wide = widenWhereNeeded(tuned, key256(), kWide, kernels);
  EXPECT_EQ(wide.choice.kernel, "b_i64");
  EXPECT_EQ(wide.source, Dispatch::Source::Exact);
  EXPECT_NE(wide.reason.find("64-bit twin, since input has 2560000000 elements"), std::string::npos) << wide.reason;
}

TEST(IndexWidth, WithoutATwinTheHeuristicChoosesAmongSixtyFourBitKernels) {
  const std::vector<KernelDescription> kernels = {kernel("a", "implicit_gemm", 32),
                                                  kernel("other_i64", "implicit_gemm", 64, 64, 64)};
  Dispatch chosen = heuristicChoice(key256(), kernels);
  ASSERT_EQ(chosen.choice.kernel, "a");
  Dispatch wide = widenWhereNeeded(chosen, key256(), kWide, kernels);
  EXPECT_EQ(wide.choice.kernel, "other_i64");
  EXPECT_NE(wide.reason.find("a has no 64-bit twin"), std::string::npos) << wide.reason;
}

TEST(IndexWidth, WithoutAnySixtyFourBitKernelTheErrorNamesTheTensor) {
  const std::vector<KernelDescription> kernels = {kernel("a", "implicit_gemm", 32)};
  try {
    widenWhereNeeded(heuristicChoice(key256(), kernels), key256(), kWide, kernels);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("input has 2560000000 elements"), std::string::npos) << message;
    EXPECT_NE(message.find("no 64-bit kernel (index_bits 64)"), std::string::npos) << message;
  }
}

} // namespace
} // namespace sparsekgen
