// Every kernel of the default catalog against the float64 reference, on random clouds of three
// sizes (one not a multiple of any tile) and on a real KITTI scan. Outputs are poisoned with NaNs
// before each run; every row must be written and the relative error must stay within kTolerance.
#include <cstdio>

#include <gtest/gtest.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/Verification.h"
#include "TestClouds.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen {
namespace {

using testclouds::randomCloud;
using testclouds::testDataDirectory;

// fp16 inputs and outputs with fp32 accumulation: the output rounding alone is ~5e-4 relative.
constexpr double kTolerance = 1e-2;

Context &context() {
  static Context instance(0, sparsekgen_kernels);
  return instance;
}

struct Case {
  std::string name;
  std::vector<Coordinate> coordinates;
  ConvGeometry geometry;
  int inChannels, outChannels;
};

const std::vector<Case> &cases() {
  static const std::vector<Case> all = [] {
    std::vector<Case> list;
    list.push_back({"random_8192_submanifold_c32", randomCloud(8192, 1), ConvGeometry{}, 32, 32});
    list.push_back({"random_1000_submanifold_c16_to_48", randomCloud(1000, 2), ConvGeometry{}, 16, 48});
    list.push_back({"random_30001_submanifold_c64", randomCloud(30001, 3), ConvGeometry{}, 64, 64});
    list.push_back({"random_30001_strided_2x2x2_c32_to_64", randomCloud(30001, 4),
                    ConvGeometry{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}}, 32, 64});
    auto scan = voxelize(loadPointFile(testDataDirectory() + "/kitti_000008.bin", 4), 0.05f);
    list.push_back({"kitti_000008_submanifold_c32", scan, ConvGeometry{}, 32, 32});
    list.push_back({"kitti_000008_submanifold_c64", scan, ConvGeometry{}, 64, 64});
    return list;
  }();
  return all;
}

class EveryKernel : public ::testing::TestWithParam<size_t> {};

TEST_P(EveryKernel, MatchesFloat64ReferenceOnRandomAndRealInputs) {
  const skg_kernel_record &kernel = sparsekgen_kernels.kernels[GetParam()];
  for (const Case &c : cases()) {
    SCOPED_TRACE(c.name);
    auto problem = makeConvProblem(c.coordinates, c.geometry, c.inChannels, c.outChannels, 99);
    auto reference = problem.reference();
    auto device = uploadConvProblem(problem);
    ConvCheck check = runAndCheck(context(), kernel, device, reference);
    EXPECT_EQ(check.unwrittenRows, 0) << kernel.name << " on " << c.name;
    EXPECT_LE(check.relativeError, kTolerance) << kernel.name << " on " << c.name;
    std::printf("  %-64s %-40s relative error %.2e, unwritten rows %lld\n", kernel.name, c.name.c_str(),
                check.relativeError, check.unwrittenRows);
  }
}

std::string kernelTestName(const ::testing::TestParamInfo<size_t> &info) {
  return sparsekgen_kernels.kernels[info.param].name;
}

INSTANTIATE_TEST_SUITE_P(DefaultCatalog, EveryKernel, ::testing::Range<size_t>(0, sparsekgen_kernels.kernel_count),
                         kernelTestName);

TEST(ConvForwardErrors, ChannelCountsNotMultipleOfEightAreRefusedClearly) {
  Context &gpu = context(); // device memory needs the context first
  auto problem = makeConvProblem(randomCloud(100, 5), ConvGeometry{}, 3, 16, 1);
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
