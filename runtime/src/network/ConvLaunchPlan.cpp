#include "sparsekgen/ConvLaunchPlan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {
int paddedToEight(int channels) { return (channels + 7) / 8 * 8; }
} // namespace

ConvLaunchPlan chooseConvLaunch(const std::vector<KernelDescription> &kernels, const Network &network,
                                const PlanStep &step) {
  const WorkloadMap &map = network.findMap(step.map);
  auto fits = [&](int in, int out, const std::vector<std::string> &epilogue) {
    return anyKernelTakes(kernels,
                          layerKey(in, out, map.geometry.volume(), map.transposed(), network.dtype, epilogue, 1, 1));
  };
  const int in = step.inChannels, out = step.outChannels;
  const int in8 = paddedToEight(in), out8 = paddedToEight(out);
  for (int launchIn : {in, in8})
    if (fits(launchIn, out, step.epilogue))
      return {launchIn, out, step.epilogue, false};
  for (int launchIn : {in, in8})
    for (int launchOut : {out, out8})
      if (fits(launchIn, launchOut, {}))
        return {launchIn, launchOut, {}, !step.epilogue.empty()};
  throw RuntimeError(fmt::format("network {}: layer '{}' ({} -> {} channels, {} offsets, {}{}): no kernel of the "
                                 "bundle takes it, with epilogue [{}] or alone, at its channels or padded to {} -> {}",
                                 network.name, step.name, in, out, map.geometry.volume(), network.dtype,
                                 map.transposed() ? ", transposed" : "", fmt::join(step.epilogue, ", "), in8, out8));
}

std::string describeConvLaunch(const ConvLaunchPlan &launch, const PlanStep &step) {
  std::vector<std::string> parts;
  if (launch.in != step.inChannels || launch.out != step.outChannels)
    parts.push_back(fmt::format("channels padded {} -> {} to {} -> {}", step.inChannels, step.outChannels, launch.in,
                                launch.out));
  if (launch.epilogueUnfused)
    parts.push_back(fmt::format("epilogue [{}] unfused: no kernel fuses it, an element-wise pass runs it",
                                fmt::join(step.epilogue, ", ")));
  else if (!launch.epilogue.empty())
    parts.push_back(fmt::format("fused [{}]", fmt::join(launch.epilogue, ", ")));
  else
    parts.push_back("no epilogue");
  return fmt::format("{}", fmt::join(parts, "; "));
}

} // namespace sparsekgen
