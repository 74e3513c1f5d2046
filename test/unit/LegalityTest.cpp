#include <gtest/gtest.h>

#include "sparsekgen/generator/Legality.h"
#include "sparsekgen/generator/SharedRing.h"

namespace sparsekgen {
namespace {

KernelSpec legalSpec() {
  KernelSpec spec;
  spec.cta = {128, 64, 32};
  spec.warp = {64, 32, 32};
  spec.stages = 3;
  spec.targetSms = {80, 90};
  return spec;
}

std::vector<std::string> rulesOf(const KernelSpec &spec) {
  std::vector<std::string> rules;
  for (const auto &violation : checkLegality(spec))
    rules.push_back(violation.rule);
  return rules;
}

bool breaks(const KernelSpec &spec, const std::string &rule) {
  auto rules = rulesOf(spec);
  return std::find(rules.begin(), rules.end(), rule) != rules.end();
}

TEST(Legality, LegalSpecHasNoViolation) { EXPECT_TRUE(checkLegality(legalSpec()).empty()); }

TEST(Legality, HugeTilesAreRefusedBeforeTheirArithmeticOverflows) {
  KernelSpec spec = legalSpec();
  spec.cta.k = spec.warp.k = 1 << 20; // the parser's largest integer: threads and bytes would overflow int
  auto violations = checkLegality(spec);
  ASSERT_EQ(rulesOf(spec), (std::vector<std::string>{"tile-extent", "tile-extent"}));
  EXPECT_EQ(violations[0].field, "/tile/cta/2");
  EXPECT_EQ(violations[0].message, "CTA tile K = 1048576 is past the largest tile extent, 1024");
  spec = legalSpec();
  spec.cta.m = spec.warp.m = 1 << 20;
  EXPECT_TRUE(breaks(spec, "tile-extent"));
}

TEST(Legality, WarpTileMustDivideCtaTile) {
  auto spec = legalSpec();
  spec.warp.n = 48;
  EXPECT_TRUE(breaks(spec, "warp-divides-cta"));
}

TEST(Legality, KMustBeAMultipleOfTheMmaK) {
  auto spec = legalSpec();
  spec.cta.k = spec.warp.k = 24;
  EXPECT_TRUE(breaks(spec, "k-multiple-of-mma-k"));
}

TEST(Legality, StagesMustBeAtLeastTwo) {
  auto spec = legalSpec();
  spec.stages = 1;
  auto violations = checkLegality(spec);
  ASSERT_FALSE(violations.empty());
  EXPECT_EQ(violations.front().rule, "stage-count");
  EXPECT_EQ(violations.front().field, "/stages");
}

TEST(Legality, SharedMemoryIsCheckedPerTargetWithTheNumbers) {
  auto spec = legalSpec();
  spec.cta = {256, 128, 64};
  spec.warp = {64, 64, 64};
  spec.stages = 5;
  spec.targetSms = {86};
  int bytes = sharedMemoryBytes(spec);
  EXPECT_EQ(bytes, 5 * (256 * (64 + 8) + 64 * (128 + 8)) * 2);
  auto violations = checkLegality(spec);
  auto it = std::find_if(violations.begin(), violations.end(), [](auto &v) { return v.rule == "shared-memory"; });
  ASSERT_NE(it, violations.end());
  EXPECT_NE(it->message.find(std::to_string(bytes)), std::string::npos) << it->message;
  EXPECT_NE(it->message.find("sm_86 allows at most 101376"), std::string::npos) << it->message;
}

TEST(Legality, AtMost1024Threads) {
  auto spec = legalSpec();
  spec.cta = {512, 256, 32};
  spec.warp = {16, 16, 32}; // 32 x 16 warps
  EXPECT_TRUE(breaks(spec, "thread-limit"));
}

TEST(Legality, WarpKMustEqualCtaK) {
  auto spec = legalSpec();
  spec.warp.k = 16;
  EXPECT_TRUE(breaks(spec, "warp-k-equals-cta-k"));
}

TEST(Legality, TooManyAccumulatorsWouldSpill) {
  auto spec = legalSpec();
  spec.cta = {128, 128, 32};
  spec.warp = {128, 128, 32};
  EXPECT_TRUE(breaks(spec, "accumulator-registers"));
}

TEST(Legality, UnimplementedOperationAndTypesAreNamed) {
  auto spec = legalSpec();
  spec.operation = ConvOperation::WeightGrad;
  auto violations = checkLegality(spec);
  ASSERT_FALSE(violations.empty());
  EXPECT_EQ(violations.front().rule, "template-available");
  EXPECT_EQ(violations.front().field, "/operation");
  spec = legalSpec();
  spec.dtypes = {DataType::F16, DataType::F16, DataType::BF16, DataType::F32}; // f16 operands, bf16 output
  violations = checkLegality(spec);
  ASSERT_FALSE(violations.empty());
  EXPECT_EQ(violations.front().field, "/dtypes");
}

TEST(Legality, PairWeightsOnlyOnPairListForwardAndInputGradients) {
  auto spec = legalSpec();
  spec.pairWeights = true;
  EXPECT_TRUE(breaks(spec, "pair-weights-dataflow")); // implicit GEMM has no per-pair step
  for (Dataflow dataflow : {SKG_FETCH_ON_DEMAND, SKG_GATHER_GEMM_SCATTER})
    for (ConvOperation operation : {ConvOperation::Forward, ConvOperation::InputGrad}) {
      spec.dataflow = dataflow;
      spec.operation = operation;
      EXPECT_FALSE(breaks(spec, "pair-weights-dataflow")) << toString(dataflow) << " " << toString(operation);
    }
  spec.dataflow = SKG_PAIR_SPLIT_K;
  spec.operation = ConvOperation::WeightGrad;
  spec.dtypes.output = DataType::F32;
  EXPECT_TRUE(breaks(spec, "pair-weights-dataflow"));
}

TEST(Legality, Fp32OperandsNeedAnExplicitMathMode) {
  auto spec = legalSpec();
  spec.dtypes = {DataType::F32, DataType::F32, DataType::F32, DataType::F32};
  spec.channelAlignment = 4;
  EXPECT_TRUE(breaks(spec, "math-for-fp32"));
  spec.math = MathMode::Tf32;
  EXPECT_TRUE(checkLegality(spec).empty());
  spec.math = MathMode::Ffma;
  EXPECT_TRUE(checkLegality(spec).empty());
  spec.channelAlignment = 8; // 32 bytes
  EXPECT_TRUE(breaks(spec, "copy-width"));
  spec = legalSpec();
  spec.math = MathMode::Tf32;
  EXPECT_TRUE(breaks(spec, "math-for-fp32"));
}

KernelSpec warpgroupSpec() {
  KernelSpec spec;
  spec.math = MathMode::WarpgroupMma;
  spec.cta = {128, 128, 64};
  spec.warp = {16, 128, 64};
  spec.stages = 4;
  spec.targetSms = {90};
  return spec;
}

TEST(Legality, TmaWeightTilesAreForTheImplicitGemmDataflows) {
  KernelSpec spec = warpgroupSpec();
  spec.math = MathMode::WarpgroupMmaTma;
  for (auto dataflow : {SKG_IMPLICIT_GEMM, SKG_IMPLICIT_GEMM_SORTED, SKG_IMPLICIT_GEMM_SPLIT}) {
    spec.dataflow = dataflow;
    EXPECT_TRUE(checkLegality(spec).empty()) << toString(spec.dataflow);
  }
  spec.dataflow = SKG_FETCH_ON_DEMAND;
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-tma-dataflow"));
  spec = warpgroupSpec();
  spec.math = MathMode::WarpgroupMmaTma;
  spec.targetSms = {80, 90}; // the warpgroup rules apply as well
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-target"));
}

TEST(Legality, WarpgroupMmaTakesSm90ForwardTilesOfItsShape) {
  EXPECT_TRUE(checkLegality(warpgroupSpec()).empty());
  KernelSpec spec = warpgroupSpec();
  spec.targetSms = {80, 90};
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-target"));
  spec = warpgroupSpec();
  spec.operation = ConvOperation::InputGrad;
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-operation"));
  spec = warpgroupSpec();
  spec.cta.k = spec.warp.k = 32;
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-k"));
  spec = warpgroupSpec();
  spec.cta.m = 96;
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-m"));
  spec = warpgroupSpec();
  spec.cta.n = spec.warp.n = 96;
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-n"));
  spec = warpgroupSpec();
  spec.warp = {32, 64, 64};
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-warp-tile"));
  spec = warpgroupSpec();
  spec.channelAlignment = 4;
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-alignment"));
  spec = warpgroupSpec();
  spec.stages = 2;
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-stages"));
  spec = warpgroupSpec();
  spec.dtypes = {DataType::F32, DataType::F32, DataType::F32, DataType::F32};
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-types"));
  // 192 rows (384 threads) do not divide a 64 x 64 B tile's 512 chunks.
  spec = warpgroupSpec();
  spec.cta = {192, 64, 64};
  spec.warp = {16, 64, 64};
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-copies"));
  // 512 threads have 128 registers each: N = 256 (128 accumulators) does not fit, N = 128 does.
  spec = warpgroupSpec();
  spec.cta = {256, 256, 64};
  spec.warp = {16, 256, 64};
  spec.stages = 3;
  EXPECT_TRUE(breaks(spec, "warpgroup-mma-registers"));
  spec.cta.n = spec.warp.n = 128;
  EXPECT_FALSE(breaks(spec, "warpgroup-mma-registers"));
  // The ring: unpadded swizzled tiles, 1024 bytes of slack to align them.
  SharedRingLayout layout = sharedRingLayout(warpgroupSpec());
  EXPECT_TRUE(layout.swizzled128);
  EXPECT_EQ(layout.aStageBytes(), 128 * 64 * 2);
  EXPECT_EQ(layout.bStageBytes(), 64 * 128 * 2);
  EXPECT_EQ(layout.totalBytes(), 4 * (128 * 64 * 2 + 64 * 128 * 2) + 1024);
}

TEST(Legality, EveryDataflowHasATemplate) {
  for (auto dataflow : {SKG_IMPLICIT_GEMM, SKG_IMPLICIT_GEMM_SORTED, SKG_IMPLICIT_GEMM_SPLIT, SKG_GATHER_GEMM_SCATTER,
                        SKG_FETCH_ON_DEMAND}) {
    auto spec = legalSpec();
    spec.dataflow = dataflow;
    EXPECT_TRUE(checkLegality(spec).empty()) << toString(dataflow);
  }
}

} // namespace
} // namespace sparsekgen
