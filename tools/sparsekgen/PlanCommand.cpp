#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "Commands.h"
#include "sparsekgen/BundleManifest.h"
#include "sparsekgen/ConvLaunchPlan.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/Network.h"

namespace sparsekgen {

namespace {
struct PlanOptions {
  std::string bundle, network, dtype;
};

void runPlan(const PlanOptions &o) {
  std::string manifestPath;
  const BundleManifest manifest = parseBundleManifest(readManifestText(o.bundle, &manifestPath), manifestPath);
  Network network = loadNetwork(o.network);
  if (!o.dtype.empty())
    network.dtype = o.dtype;
  const auto plan = planNetwork(network);
  fmt::print("network {} ({}) on bundle {} ({} kernels, {:.12})\n", network.name, network.dtype, manifestPath,
             manifest.kernels.size(), manifest.bundleHash);
  fmt::print("{:<28} {:>10} {:>7}  {:>7}  {}\n", "layer", "channels", "offsets", "kernels", "launch");
  int layers = 0, padded = 0, unfused = 0;
  std::vector<std::string> refused;
  for (const auto &step : plan) {
    if (step.kind != PlanStep::Kind::Conv)
      continue;
    ++layers;
    const WorkloadMap &map = network.findMap(step.map);
    ConvLaunchPlan launch;
    try {
      launch = chooseConvLaunch(manifest.kernels, network, step);
    } catch (const RuntimeError &error) {
      fmt::print("{:<28} {:>10} {:>7}  {:>7}  no kernel takes it\n", step.name,
                 fmt::format("{} -> {}", step.inChannels, step.outChannels), map.geometry.volume(), 0);
      refused.push_back(error.what());
      continue;
    }
    LayerKey key = layerKey(launch.in, launch.out, map.geometry.volume(), map.transposed(), network.dtype,
                            launch.epilogue, 1, 1);
    const auto candidates = std::count_if(manifest.kernels.begin(), manifest.kernels.end(), [&](const auto &k) {
      return kernelFits(k, key) && heuristicMayChoose(k) && k.indexBits == 32;
    });
    padded += launch.in != step.inChannels || launch.out != step.outChannels;
    unfused += launch.epilogueUnfused;
    fmt::print("{:<28} {:>10} {:>7}  {:>7}  {}\n", step.name, fmt::format("{} -> {}", step.inChannels, step.outChannels),
               fmt::format("{}{}", map.geometry.volume(), map.transposed() ? "T" : ""), candidates,
               describeConvLaunch(launch, step) + (candidates == 0 ? "; only 64-bit kernels take it" : ""));
  }
  fmt::print("{} conv layers: {} with the planned epilogue fused, {} with padded channels, {} with the epilogue "
             "unfused, {} that no kernel takes\n",
             layers, layers - unfused - static_cast<int>(refused.size()), padded, unfused, refused.size());
  if (!refused.empty())
    throw RuntimeError(fmt::format("the bundle cannot run {} of the network's layers in {}; the first: {}",
                                   refused.size(), network.dtype, refused.front()));
}
} // namespace

void addPlanCommand(CLI::App &app) {
  static PlanOptions o;
  auto *command = app.add_subcommand(
      "plan", "Say how each convolution of a network description launches on a bundle: fused as planned, with "
              "channels padded, or with its epilogue left to an element-wise pass (T: transposed)");
  command->add_option("bundle", o.bundle, "bundle directory or its manifest.json")->required();
  command->add_option("network", o.network, "network description (schemas/network.schema.json)")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--dtype", o.dtype, "run it in this element type instead of the description's")
      ->check(CLI::IsMember(std::vector<std::string>(dtypeSpellings().begin(), dtypeSpellings().end())));
  command->callback([] { runPlan(o); });
}

} // namespace sparsekgen
