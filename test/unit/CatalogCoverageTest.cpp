// The default catalog runs every convolution of the bundled networks (bench/networks) in fp16, bf16
// and exact fp32 with the planned epilogue fused into a 32-bit kernel (channels may be zero-padded
// to 8, as the executor pads a first layer's 3 to 5 channels), and never needs a tf32 kernel for
// f32. CPU only: the plan the executor would launch (ConvLaunchPlan.h) over the bundle's records.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include <fmt/ranges.h>

#include "sparsekgen/ConvLaunchPlan.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen {
namespace {

std::vector<KernelDescription> defaultKernels() {
  std::vector<const skg_kernel_record *> records;
  for (uint32_t i = 0; i < sparsekgen_kernels.kernel_count; ++i)
    records.push_back(&sparsekgen_kernels.kernels[i]);
  return describeKernels(records);
}

TEST(CatalogCoverage, EveryBundledNetworkLayerFusesInEveryDataType) {
  const auto kernels = defaultKernels();
  int networks = 0;
  for (const auto &entry : std::filesystem::directory_iterator(SPARSEKGEN_SOURCE_DIR "/bench/networks")) {
    ++networks;
    for (const char *dtype : {"f16", "bf16", "f32"}) {
      Network network = loadNetwork(entry.path().string());
      network.dtype = dtype;
      for (const auto &step : planNetwork(network)) {
        if (step.kind != PlanStep::Kind::Conv)
          continue;
        SCOPED_TRACE(fmt::format("{} in {}: layer {} ({} -> {}, epilogue [{}])", network.name, dtype, step.name,
                                 step.inChannels, step.outChannels, fmt::join(step.epilogue, ", ")));
        ConvLaunchPlan launch = chooseConvLaunch(kernels, network, step);
        EXPECT_FALSE(launch.epilogueUnfused);
        EXPECT_EQ(launch.out, step.outChannels);
        EXPECT_LE(launch.in, (step.inChannels + 7) / 8 * 8);
        const WorkloadMap &map = network.findMap(step.map);
        LayerKey key = layerKey(launch.in, launch.out, map.geometry.volume(), map.transposed(), dtype,
                                launch.epilogue, 1, 1);
        EXPECT_TRUE(std::any_of(kernels.begin(), kernels.end(), [&](const KernelDescription &k) {
          return kernelFits(k, key) && heuristicMayChoose(k) && k.indexBits == 32;
        })) << "only a 64-bit kernel takes it";
      }
    }
  }
  EXPECT_GE(networks, 4);
}

TEST(CatalogCoverage, Tf32OnlyWhereATableNamesIt) {
  const auto kernels = defaultKernels();
  LayerKey key = layerKey(32, 32, 27, false, "f32", {"scale_shift", "relu"}, 80000, 400000);
  Dispatch dispatch = heuristicChoice(key, kernels);
  auto chosen = std::find_if(kernels.begin(), kernels.end(),
                             [&](const KernelDescription &k) { return k.name == dispatch.choice.kernel; });
  ASSERT_NE(chosen, kernels.end());
  EXPECT_EQ(chosen->math, "ffma");
  // A table entry naming a tf32 kernel is honoured: that is how tf32 is asked for.
  auto tf32 = std::find_if(kernels.begin(), kernels.end(), [&](const KernelDescription &k) {
    return k.math == "tf32" && kernelFits(k, key);
  });
  ASSERT_NE(tf32, kernels.end());
  ConfigTable table;
  ConfigEntry entry;
  entry.key = key;
  entry.choice = {tf32->name, 1};
  table.entries.push_back(entry);
  EXPECT_EQ(table.dispatch(key, kernels).choice.kernel, tf32->name);
}

} // namespace
} // namespace sparsekgen
