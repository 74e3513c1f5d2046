#include "sparsekgen/generator/TargetInfo.h"

#include <algorithm>

namespace sparsekgen {

const std::vector<TargetInfo> &supportedTargets() {
  // Shared memory: the per-block maximum with the dynamic opt-in (CUDA C Programming Guide,
  // "Technical Specifications per Compute Capability").
  static const std::vector<TargetInfo> targets = {
      {80, 163 * 1024, 1024},
      {86, 99 * 1024, 1024},
      {89, 99 * 1024, 1024},
      {90, 227 * 1024, 1024},
  };
  return targets;
}

std::optional<TargetInfo> findTarget(int sm) {
  const auto &targets = supportedTargets();
  auto it = std::find_if(targets.begin(), targets.end(), [&](const TargetInfo &t) { return t.sm == sm; });
  if (it == targets.end())
    return std::nullopt;
  return *it;
}

} // namespace sparsekgen
