// Every input-gradient and weight-gradient kernel of the default catalog against the float64
// reference backward, through convBackward, on random clouds (sizes not multiples of any tile,
// strided and large-volume geometries) and a real KITTI scan. Gradients are poisoned with NaNs
// before each run; every row must be written and the relative error stay within the tolerance.
// Weight gradients with the default kernels are bit-identical across runs (determinism).
#include <cstdio>
#include <cstring>

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <tuple>

#include "sparsekgen/BackwardVerification.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/GpuKernelMaps.h"
#include "sparsekgen/PointCloud.h"
#include "KernelsOfOperation.h"
#include "TestClouds.h"
#include "TestContext.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen {
namespace {

using testclouds::context;
using testclouds::randomCloud;
using testclouds::testDataDirectory;

// Relative-error tolerance per kernel. Operands are exactly representable and accumulation is fp32.
// Input gradients round to their output type (about 5e-4 for fp16, 4e-3 for bf16). Weight gradients
// are f32 sums of many pair products (thousands per offset on the scan), added in fp32 within a
// chunk and then over chunks: about 1e-6 relative in practice, 1e-4 allowed. tf32 truncates
// operands to a 10-bit mantissa (about 1e-3); ffma is exact fp32.
double toleranceFor(const skg_kernel_record &kernel) {
  if (kernel.math == SKG_MATH_TF32)
    return 5e-3;
  if (kernel.math == SKG_MATH_FFMA)
    return 1e-5;
  if (kernel.operation == SKG_WEIGHT_GRAD)
    return 1e-4;
  return kernel.output_type == SKG_BF16 ? 2e-2 : kernel.output_type == SKG_F32 ? 1e-3 : 1e-2;
}

// Channel counts a kernel of `alignment` takes, including counts no wider alignment takes and
// counts that are not multiples of any CTA tile.
std::vector<std::pair<int, int>> channelPairsFor(uint32_t alignment) {
  switch (alignment) {
  case 1:
    return {{3, 5}, {13, 20}};
  case 2:
    return {{6, 10}, {18, 34}};
  case 4:
    return {{12, 20}};
  default:
    return {{32, 32}, {16, 48}, {72, 24}};
  }
}

struct Input {
  std::string name;
  std::vector<Coordinate> coordinates;
  ConvGeometry geometry;
};

const std::vector<Input> &inputs() {
  static const std::vector<Input> all = [] {
    std::vector<Input> list;
    list.push_back({"random_1000_submanifold", randomCloud(1000, 2), ConvGeometry{}});
    list.push_back({"random_8193_submanifold", randomCloud(8193, 1), ConvGeometry{}});
    list.push_back({"random_30001_strided_2x2x2", randomCloud(30001, 4), ConvGeometry{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}}});
    list.push_back({"random_9001_strided_3x3x3", randomCloud(9001, 9), ConvGeometry{{3, 3, 3}, {2, 2, 2}, {1, 1, 1}}});
    list.push_back({"random_3000_5x5x5", randomCloud(3000, 7), ConvGeometry{{5, 5, 5}, {1, 1, 1}, {1, 1, 1}}});
    list.push_back({"kitti_000008_submanifold",
                    voxelize(loadPointFile(testDataDirectory() + "/kitti_000008.bin", 4), 0.05f), ConvGeometry{}});
    return list;
  }();
  return all;
}

// Problems and both references, shared by the kernels of the same operand type and channels.
struct Verified {
  ConvBackwardProblem problem;
  std::vector<double> inputGrad, weightGrad;
  DeviceConvBackwardProblem device;
};
Verified &problemFor(size_t input, int cin, int cout, uint32_t operand) {
  static std::map<std::tuple<size_t, int, int, uint32_t>, std::unique_ptr<Verified>> cache;
  auto key = std::make_tuple(input, cin, cout, operand);
  if (auto it = cache.find(key); it != cache.end())
    return *it->second;
  context();
  auto verified = std::make_unique<Verified>();
  verified->problem = makeConvBackwardProblem(inputs()[input].coordinates, inputs()[input].geometry, cin, cout, 41, operand);
  verified->inputGrad = verified->problem.inputGradReference();
  verified->weightGrad = verified->problem.weightGradReference();
  verified->device = uploadConvBackwardProblem(verified->problem);
  return *cache.emplace(key, std::move(verified)).first->second;
}

struct Tally : ::testing::Environment {
  static inline int kernels = 0, passed = 0, checks = 0;
  void TearDown() override {
    if (kernels > 0)
      std::printf("default catalog: %d of %d backward kernels passed every check (%d checks)\n", passed, kernels, checks);
  }
};
const auto *tally = ::testing::AddGlobalTestEnvironment(new Tally);

class EveryBackwardKernel : public ::testing::TestWithParam<size_t> {};

TEST_P(EveryBackwardKernel, MatchesFloat64ReferenceOnRandomAndRealInputs) {
  const skg_kernel_record &kernel = sparsekgen_kernels.kernels[GetParam()];
  const bool inputGrad = kernel.operation == SKG_INPUT_GRAD;
  const double tolerance = toleranceFor(kernel);
  auto pairs = channelPairsFor(kernel.channel_alignment);
  int failures = 0;
  for (size_t input = 0; input < inputs().size(); ++input)
    for (size_t p = 0; p < (input == 0 ? pairs.size() : 1); ++p) {
      auto [cin, cout] = pairs[p];
      Verified &v = problemFor(input, cin, cout, kernel.operand_type);
      // Weight gradients: the runtime's chunk count, and on the small cloud one chunk and seven.
      std::vector<int> splitCounts = inputGrad ? std::vector<int>{0} : input == 0 ? std::vector<int>{0, 1, 7} : std::vector<int>{0};
      for (int splits : splitCounts) {
        std::string what = inputs()[input].name + " Cin " + std::to_string(cin) + " Cout " + std::to_string(cout) +
                           (inputGrad ? "" : " splits " + std::to_string(splits));
        ConvCheck check = runBackwardAndCheck(context(), kernel, v.device, inputGrad ? v.inputGrad : v.weightGrad, splits);
        ++Tally::checks;
        bool ok = check.unwrittenRows == 0 && check.relativeError <= tolerance;
        failures += !ok;
        EXPECT_EQ(check.unwrittenRows, 0) << kernel.name << " on " << what;
        EXPECT_LE(check.relativeError, tolerance) << kernel.name << " on " << what;
      }
    }
  ++Tally::kernels;
  Tally::passed += failures == 0;
}

std::vector<size_t> backwardKernels() {
  auto indices = testclouds::kernelsOf(SKG_INPUT_GRAD);
  auto weight = testclouds::kernelsOf(SKG_WEIGHT_GRAD);
  indices.insert(indices.end(), weight.begin(), weight.end());
  return indices;
}

INSTANTIATE_TEST_SUITE_P(DefaultCatalog, EveryBackwardKernel, ::testing::ValuesIn(backwardKernels()),
                         [](const ::testing::TestParamInfo<size_t> &info) {
                           return std::string(sparsekgen_kernels.kernels[info.param].name);
                         });

TEST(ConvBackward, DefaultWeightGradientIsBitIdenticalAcrossRuns) {
  const skg_kernel_record *kernel = testclouds::firstKernelOf(SKG_WEIGHT_GRAD);
  ASSERT_NE(kernel, nullptr) << "the default catalog has no weight_grad kernel";
  Verified &v = problemFor(5, 32, 32, kernel->operand_type); // the KITTI scan
  for (int splits : {0, 5}) {
    std::vector<float> first, second;
    runBackwardAndCheck(context(), *kernel, v.device, v.weightGrad, splits, &first);
    runBackwardAndCheck(context(), *kernel, v.device, v.weightGrad, splits, &second);
    ASSERT_EQ(first.size(), second.size());
    EXPECT_EQ(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)), 0)
        << kernel->name << " with " << splits << " splits gave different bits in two runs";
  }
}

// convBackward over maps built on the GPU, as a training step builds them: the forward map, its
// pair lists, the transposed map and the transposed map's sort inputs.
TEST(ConvBackward, GpuMapsGiveTheReferenceGradients) {
  const skg_kernel_record *weightKernel = testclouds::firstKernelOf(SKG_WEIGHT_GRAD);
  const skg_kernel_record *inputKernel = nullptr;
  for (size_t i : testclouds::kernelsOf(SKG_INPUT_GRAD))
    if (sparsekgen_kernels.kernels[i].dataflow == SKG_IMPLICIT_GEMM_SORTED && !inputKernel)
      inputKernel = &sparsekgen_kernels.kernels[i];
  ASSERT_NE(weightKernel, nullptr);
  ASSERT_NE(inputKernel, nullptr) << "the default catalog has no sorted input_grad kernel";
  ASSERT_EQ(weightKernel->operand_type, inputKernel->operand_type);
  for (size_t input : {size_t{2}, size_t{5}}) { // strided random, KITTI submanifold
    Verified &v = problemFor(input, 32, 32, inputKernel->operand_type);
    const Input &in = inputs()[input];
    auto coordinates = SparseCoordinates::fromHost(in.coordinates);
    DeviceKernelMap map = buildKernelMapGpu(coordinates, in.geometry);
    DeviceKernelMap transposed = transposedKernelMapGpu(map);
    auto pairs = kernelMapExtrasGpu(map, {.pairs = true});
    const int tileRows = static_cast<int>(mainFunction(*inputKernel).rows_per_block);
    auto sorted = kernelMapExtrasGpu(transposed, {.splits = 1, .tileRows = tileRows});
    ASSERT_EQ(map.downloadOutInMap(), v.problem.map.outInMap) << in.name;

    ConvBackwardArguments args = v.device.args;
    DeviceBuffer inputGrad(static_cast<size_t>(map.inputCount()) * 32 * elementBytes(inputKernel->output_type));
    inputGrad.fill(0xFF);
    v.device.weightGrad.fill(0xFF);
    args.inputGrad = inputGrad.get();
    args.transposedMap = transposed.outInMap.get();
    args.transposedPermutation = sorted.splitPermutations.get();
    args.transposedTileMasks = sorted.tileMasks.get();
    args.transposedMaskWords = sorted.groupMaskWords;
    args.pairInputs = pairs.pairInputs.get();
    args.pairOutputs = pairs.pairOutputs.get();
    args.pairOffsets = pairs.pairOffsets;
    convBackward(context(), inputKernel, weightKernel, args);
    context().synchronize("convBackward");
    auto dx = decodeElements(inputGrad.download<uint8_t>(), inputKernel->output_type);
    auto dw = v.device.weightGrad.download<float>();
    EXPECT_LE(relativeError(dx, v.inputGrad), toleranceFor(*inputKernel)) << in.name;
    EXPECT_LE(relativeError(dw, v.weightGrad), toleranceFor(*weightKernel)) << in.name;
  }
}

TEST(ConvBackwardErrors, KernelsOfAnotherOperationAreRefused) {
  const skg_kernel_record &forward = sparsekgen_kernels.kernels[0];
  Verified &v = problemFor(0, 32, 32, forward.operand_type);
  ConvBackwardArguments args = backwardArgumentsFor(v.device, *testclouds::firstKernelOf(SKG_INPUT_GRAD));
  try {
    convBackward(context(), &forward, nullptr, args);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("computes forward, not input_grad"), std::string::npos) << error.what();
  }
  try {
    convBackward(context(), nullptr, testclouds::firstKernelOf(SKG_INPUT_GRAD), args);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("computes input_grad, not weight_grad"), std::string::npos)
        << error.what();
  }
}

TEST(ConvBackwardErrors, AMapWithoutPairsGivesAZeroWeightGradient) {
  const skg_kernel_record *kernel = testclouds::firstKernelOf(SKG_WEIGHT_GRAD);
  ASSERT_NE(kernel, nullptr);
  context();
  DeviceBuffer weightGrad(27 * 16 * 16 * sizeof(float));
  weightGrad.fill(0xFF);
  ConvBackwardArguments args;
  args.inChannels = args.outChannels = 16;
  args.kernelVolume = 27;
  args.weightGrad = weightGrad.get();
  args.pairOffsets.assign(28, 0);
  convBackward(context(), nullptr, kernel, args);
  context().synchronize(kernel->name);
  for (float value : weightGrad.download<float>())
    ASSERT_EQ(value, 0.0f);
}

} // namespace
} // namespace sparsekgen
