// Every kernel of the Hopper bundle (templates/catalogs/hopper.json: warpgroup-MMA forward kernels,
// sm_90a) against the float64 reference, on the sweep's random clouds and real KITTI scan, with
// channel counts below one tile, between tiles (K and N tails: 200 -> 136) and of the 128 and 256
// channel layers the kernels are for. Outputs are poisoned with NaNs first; every row must be
// written. Skipped, saying so, on GPUs other than compute capability 9.0, where sm_90a cannot run.
#include <gtest/gtest.h>

#include <cstdio>

#include "sparsekgen/Context.h"
#include "sparsekgen/Verification.h"
#include "CatalogSweep.h"
#include "sparsekgen_hopper_kernels.h"

namespace sparsekgen {
namespace {

Context &hopperContext() {
  static Context instance(0, sparsekgen_hopper_kernels);
  return instance;
}

testclouds::CatalogTally &tally = testclouds::registerTally("Hopper catalog (warpgroup MMA), forward");

class EveryHopperKernel : public ::testing::TestWithParam<size_t> {};

TEST_P(EveryHopperKernel, MatchesFloat64ReferenceOnRandomAndRealInputs) {
  const skg_kernel_record &kernel = sparsekgen_hopper_kernels.kernels[GetParam()];
  Context &gpu = hopperContext();
  if (gpu.device().sm != 90)
    GTEST_SKIP() << kernel.name << " is an sm_90a kernel; this GPU is sm_" << gpu.device().sm;
  const ConvTypes types = convTypesOf(kernel);
  const double tolerance = testclouds::toleranceFor(kernel);
  const std::vector<std::pair<int, int>> firstInputChannels = {{32, 32}, {200, 136}, {128, 128}, {256, 256}};
  int failures = 0;
  const auto &inputs = testclouds::sweepInputs();
  for (size_t input = 0; input < inputs.size(); ++input) {
    const auto channels = input == 0 ? firstInputChannels : std::vector<std::pair<int, int>>{{64, 128}};
    for (auto [cin, cout] : channels) {
      std::string what = inputs[input].name + " Cin " + std::to_string(cin) + " Cout " + std::to_string(cout);
      auto &v = testclouds::verifiedForwardProblem(input, cin, cout, types, 91);
      ConvCheck check = runAndCheck(gpu, kernel, v.device, v.reference);
      std::printf("%s on %s: relative error %.2e\n", kernel.name, what.c_str(), check.relativeError);
      failures += !tally.expectPasses(check, tolerance, kernel.name, what);
    }
  }
  tally.countKernel(failures == 0);
}

std::vector<size_t> everyKernel() {
  std::vector<size_t> indices;
  for (size_t i = 0; i < sparsekgen_hopper_kernels.kernel_count; ++i)
    indices.push_back(i);
  return indices;
}

INSTANTIATE_TEST_SUITE_P(HopperCatalog, EveryHopperKernel, ::testing::ValuesIn(everyKernel()),
                         [](const ::testing::TestParamInfo<size_t> &info) {
                           return std::string(sparsekgen_hopper_kernels.kernels[info.param].name);
                         });

} // namespace
} // namespace sparsekgen
