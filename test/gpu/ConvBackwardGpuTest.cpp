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
#include "CatalogSweep.h"
#include "KernelsOfOperation.h"
#include "TestClouds.h"
#include "TestContext.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen {
namespace {

using testclouds::context;

// Input gradients round to their output type like forward outputs (toleranceFor). Weight gradients
// on tensor cores are f32 sums of many exact pair products (thousands per offset on the scan), added
// in fp32 within a chunk and then over chunks: about 1e-6 relative in practice, 1e-4 allowed.
double backwardToleranceFor(const skg_kernel_record &kernel) {
  if (kernel.operation == SKG_WEIGHT_GRAD && kernel.math == SKG_MATH_TENSOR_CORE)
    return 1e-4;
  return testclouds::toleranceFor(kernel);
}

using testclouds::channelPairsFor;
using Input = testclouds::TestInput;

const std::vector<Input> &inputs() { return testclouds::sweepInputs(); }

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

testclouds::CatalogTally &tally = testclouds::registerTally("default catalog, backward");

class EveryBackwardKernel : public ::testing::TestWithParam<size_t> {};

TEST_P(EveryBackwardKernel, MatchesFloat64ReferenceOnRandomAndRealInputs) {
  const skg_kernel_record &kernel = sparsekgen_kernels.kernels[GetParam()];
  const bool inputGrad = kernel.operation == SKG_INPUT_GRAD;
  const double tolerance = backwardToleranceFor(kernel);
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
        failures += !tally.expectPasses(check, tolerance, kernel.name, what);
      }
    }
  tally.countKernel(failures == 0);
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
  Verified &v = problemFor(testclouds::sweepInputIndex("kitti_000008_submanifold"), 32, 32, kernel->operand_type);
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
  for (size_t input : {testclouds::sweepInputIndex("random_30001_strided_2x2x2"),
                       testclouds::sweepInputIndex("kitti_000008_submanifold")}) {
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
    EXPECT_LE(relativeError(dx, v.inputGrad), backwardToleranceFor(*inputKernel)) << in.name;
    EXPECT_LE(relativeError(dw, v.weightGrad), backwardToleranceFor(*weightKernel)) << in.name;
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
