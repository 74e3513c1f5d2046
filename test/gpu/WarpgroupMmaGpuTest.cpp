// Every kernel of the Hopper bundle (templates/catalogs/hopper.json: warpgroup-MMA forward kernels,
// sm_90a), and of the Hopper TMA bundle where this build has it (hopper-tma.json: weight tiles by
// TMA), against the float64 reference, on the sweep's random clouds and real KITTI scan, with
// channel counts below one tile, between tiles (K and N tails: 200 -> 136) and of the 128 and 256
// channel layers the kernels are for. Outputs are poisoned with NaNs first; every row must be
// written. Skipped, saying so, on GPUs other than compute capability 9.0, where sm_90a cannot run.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <vector>

#include "sparsekgen/Context.h"
#include "sparsekgen/Verification.h"
#include "CatalogSweep.h"
#include "sparsekgen_hopper_kernels.h"
#if SPARSEKGEN_HAVE_HOPPER_TMA_BUNDLE
#include "sparsekgen_hopper_tma_kernels.h"
#endif

namespace sparsekgen {
namespace {

std::vector<const skg_bundle *> hopperBundles() {
  std::vector<const skg_bundle *> bundles = {&sparsekgen_hopper_kernels};
#if SPARSEKGEN_HAVE_HOPPER_TMA_BUNDLE
  bundles.push_back(&sparsekgen_hopper_tma_kernels);
#endif
  return bundles;
}

// One context per bundle, opened on first use.
Context &hopperContext(const skg_bundle &bundle) {
  static std::map<const skg_bundle *, std::unique_ptr<Context>> contexts;
  auto &context = contexts[&bundle];
  if (!context)
    context = std::make_unique<Context>(0, bundle);
  return *context;
}

struct BundleKernel {
  const skg_bundle *bundle;
  size_t index;
  const skg_kernel_record &record() const { return bundle->kernels[index]; }
};

testclouds::CatalogTally &tally = testclouds::registerTally("Hopper catalog (warpgroup MMA), forward");

class EveryHopperKernel : public ::testing::TestWithParam<BundleKernel> {};

TEST_P(EveryHopperKernel, MatchesFloat64ReferenceOnRandomAndRealInputs) {
  const skg_kernel_record &kernel = GetParam().record();
  Context &gpu = hopperContext(*GetParam().bundle);
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

std::vector<BundleKernel> everyKernel() {
  std::vector<BundleKernel> kernels;
  for (const skg_bundle *bundle : hopperBundles())
    for (size_t i = 0; i < bundle->kernel_count; ++i)
      kernels.push_back({bundle, i});
  return kernels;
}

INSTANTIATE_TEST_SUITE_P(HopperCatalog, EveryHopperKernel, ::testing::ValuesIn(everyKernel()),
                         [](const ::testing::TestParamInfo<BundleKernel> &info) {
                           return std::string(info.param.record().name);
                         });

} // namespace
} // namespace sparsekgen
