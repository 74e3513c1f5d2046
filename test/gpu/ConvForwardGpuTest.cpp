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
#include "KernelsOfOperation.h"
#include "TestClouds.h"
#include "TestContext.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen {
namespace {

using testclouds::randomCloud;
using testclouds::testDataDirectory;

// Relative-error tolerance per kernel. Operands are exactly representable (the reference reads
// the same rounded values) and accumulation is fp32, so the error is the output's rounding: about
// 5e-4 for fp16 (11-bit significand), 4e-3 for bf16 (8-bit), 1e-6 for fp32; tf32 math truncates
// fp32 operands to a 10-bit mantissa (about 1e-3); ffma is exact fp32.
double toleranceFor(const skg_kernel_record &kernel) {
  if (kernel.math == SKG_MATH_TF32)
    return 5e-3;
  if (kernel.math == SKG_MATH_FFMA)
    return 1e-5;
  switch (kernel.output_type) {
  case SKG_BF16:
    return 2e-2;
  case SKG_F32:
    return 1e-3;
  default:
    return 1e-2;
  }
}

using testclouds::context;

// Channel counts a kernel of `alignment` takes, including counts no wider alignment takes.
std::vector<std::pair<int, int>> channelPairsFor(uint32_t alignment) {
  switch (alignment) {
  case 1:
    return {{3, 5}, {13, 20}};
  case 2:
    return {{6, 10}, {18, 34}};
  case 4:
    return {{12, 20}};
  default:
    return {{32, 32}, {16, 48}};
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
    list.push_back({"random_8192_submanifold", randomCloud(8192, 1), ConvGeometry{}});
    list.push_back({"random_30001_strided_2x2x2", randomCloud(30001, 4), ConvGeometry{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}}});
    // Volumes above 32: several mask words per row (4 for 125, 11 for 343) and per split group.
    list.push_back({"random_3000_5x5x5", randomCloud(3000, 7), ConvGeometry{{5, 5, 5}, {1, 1, 1}, {1, 1, 1}}});
    list.push_back({"random_2000_7x7x7", randomCloud(2000, 8), ConvGeometry{{7, 7, 7}, {1, 1, 1}, {1, 1, 1}}});
    list.push_back({"kitti_000008_submanifold",
                    voxelize(loadPointFile(testDataDirectory() + "/kitti_000008.bin", 4), 0.05f), ConvGeometry{}});
    return list;
  }();
  return all;
}

// Sorted and split kernels take volumes up to 343, so every kernel meets all five geometries.
// Problems and their references, shared by the kernels of the same types, epilogue and channels.
struct Verified {
  ConvProblem problem;
  std::vector<double> reference;
  DeviceConvProblem device;
};
Verified &problemFor(size_t input, int cin, int cout, const ConvTypes &types) {
  static std::map<std::tuple<size_t, int, int, uint32_t, uint32_t, std::vector<uint32_t>>, std::unique_ptr<Verified>> cache;
  auto key = std::make_tuple(input, cin, cout, types.operand, types.output, types.epilogueOps);
  if (auto it = cache.find(key); it != cache.end())
    return *it->second;
  context(); // device memory needs the context
  auto verified = std::make_unique<Verified>();
  verified->problem = makeConvProblem(inputs()[input].coordinates, inputs()[input].geometry, cin, cout, 99, types);
  verified->reference = verified->problem.reference();
  verified->device = uploadConvProblem(verified->problem);
  return *cache.emplace(key, std::move(verified)).first->second;
}

struct Tally : ::testing::Environment {
  static inline int kernels = 0, passed = 0, checks = 0;
  void TearDown() override {
    if (kernels > 0)
      std::printf("default catalog: %d of %d forward kernels passed every check (%d checks)\n", passed, kernels, checks);
  }
};
const auto *tally = ::testing::AddGlobalTestEnvironment(new Tally);

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
      Verified &v = problemFor(input, cin, cout, types);
      ConvCheck check = runAndCheck(context(), kernel, v.device, v.reference);
      ++Tally::checks;
      bool ok = check.unwrittenRows == 0 && check.relativeError <= tolerance;
      failures += !ok;
      EXPECT_EQ(check.unwrittenRows, 0) << kernel.name << " on " << what;
      EXPECT_LE(check.relativeError, tolerance) << kernel.name << " on " << what;
    }
  ++Tally::kernels;
  Tally::passed += failures == 0;
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
  Verified &v = problemFor(1, 32, 32, convTypesOf(*fused));
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
