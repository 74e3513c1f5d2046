// Every kernel of the default catalog against the float64 reference, on random clouds of three
// sizes (one not a multiple of any tile) and on a real KITTI scan. Outputs are poisoned with NaNs
// before each run; every row must be written and the relative error must stay within kTolerance.
#include <cstdio>

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <tuple>

#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/Verification.h"
#include "CatalogSweep.h"
#include "KernelsOfOperation.h"
#include "TestClouds.h"
#include "TestContext.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen {
namespace {

using testclouds::randomCloud;

using testclouds::toleranceFor;
using testclouds::context;

using testclouds::channelPairsFor;
using Input = testclouds::TestInput;

const std::vector<Input> &inputs() { return testclouds::sweepInputs(); }

testclouds::CatalogTally &tally = testclouds::registerTally("default catalog, forward");

class EveryKernel : public ::testing::TestWithParam<size_t> {};

TEST_P(EveryKernel, MatchesFloat64ReferenceOnRandomAndRealInputs) {
  const skg_kernel_record &kernel = sparsekgen_kernels.kernels[GetParam()];
  const ConvTypes types = convTypesOf(kernel);
  const double tolerance = toleranceFor(kernel);
  auto pairs = channelPairsFor(kernel.channel_alignment);
  int failures = 0;
  for (size_t input = 0; input < inputs().size(); ++input)
    for (size_t p = 0; p < (input == 0 ? pairs.size() : 1); ++p) {
      auto [cin, cout] = pairs[p];
      std::string what = inputs()[input].name + " Cin " + std::to_string(cin) + " Cout " + std::to_string(cout);
      context(); // device memory needs the context
      auto &v = testclouds::verifiedForwardProblem(input, cin, cout, types, 99);
      ConvCheck check = runAndCheck(context(), kernel, v.device, v.reference);
      failures += !tally.expectPasses(check, tolerance, kernel.name, what);
    }
  tally.countKernel(failures == 0);
}

std::string kernelTestName(const ::testing::TestParamInfo<size_t> &info) {
  return sparsekgen_kernels.kernels[info.param].name;
}

INSTANTIATE_TEST_SUITE_P(DefaultCatalog, EveryKernel, ::testing::ValuesIn(testclouds::kernelsOf(SKG_FORWARD)),
                         kernelTestName);

TEST(ConvForwardEpilogue, FusedBatchNormReluMatchesUnfusedReference) {
  // A kernel that fuses scale_shift + relu, checked element-wise on a known case: outputs below
  // zero before the ReLU must come out exactly 0.
  const skg_kernel_record *fused = nullptr;
  for (uint32_t i = 0; i < sparsekgen_kernels.kernel_count && !fused; ++i)
    if (sparsekgen_kernels.kernels[i].epilogue_op_count == 2 &&
        sparsekgen_kernels.kernels[i].epilogue_ops[1] == SKG_EPILOGUE_RELU)
      fused = &sparsekgen_kernels.kernels[i];
  ASSERT_NE(fused, nullptr) << "the default catalog has no scale_shift + relu kernel";
  context();
  auto &v = testclouds::verifiedForwardProblem(1, 32, 32, convTypesOf(*fused), 99);
  runAndCheck(context(), *fused, v.device, v.reference);
  auto out = decodeElements(v.device.output.download<uint8_t>(), fused->output_type);
  long long zeros = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (v.reference[i] <= 0.0) {
      ASSERT_EQ(out[i], 0.0f) << "element " << i;
      ++zeros;
    }
  }
  EXPECT_GT(zeros, static_cast<long long>(out.size() / 10));
}

TEST(ConvForwardErrors, ChannelCountsNotMultipleOfEightAreRefusedClearly) {
  Context &gpu = context(); // device memory needs the context first
  auto problem = makeConvProblem(randomCloud(100, 5), ConvGeometry{}, 3, 16, 1); // the default kernel takes multiples of 8
  auto device = uploadConvProblem(problem);
  try {
    convForward(gpu, sparsekgen_kernels.kernels[0], device.args);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("Cin = 3 is not a multiple of 8"), std::string::npos) << error.what();
  }
}

TEST(ConvForwardErrors, EmptyInputLaunchesNothing) {
  ConvForwardArguments args;
  args.inChannels = args.outChannels = 32;
  args.kernelVolume = 27;
  EXPECT_NO_THROW(convForward(context(), sparsekgen_kernels.kernels[0], args));
}

TEST(ConvForwardErrors, UnknownKernelNameListsTheBundle) {
  try {
    context().findKernel("skg_no_such_kernel");
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find(sparsekgen_kernels.kernels[0].name), std::string::npos);
  }
}

// Runs in a process of its own (a fault poisons the CUDA context): see test/CMakeLists.txt.
TEST(ConvForwardFault, FaultsInsideAKernelNameTheKernel) {
  Context &gpu = context();
  // An out_in_map entry far past the input makes the gather read unmapped memory.
  auto problem = makeConvProblem(randomCloud(1000, 6), ConvGeometry{}, 32, 32, 1);
  problem.map.outInMap[0] = 1 << 25; // 2^25 rows x 32 channels: 2 GiB past the input
  auto device = uploadConvProblem(problem);
  const auto &kernel = sparsekgen_kernels.kernels[0];
  try {
    convForward(gpu, kernel, device.args);
    gpu.synchronize(kernel.name);
    FAIL() << "expected a CudaError";
  } catch (const CudaError &error) {
    EXPECT_NE(std::string(error.what()).find(kernel.name), std::string::npos) << error.what();
  }
}

} // namespace
} // namespace sparsekgen
