// Per-SM hardware limits the legality rules check against.
#pragma once

#include <optional>
#include <vector>

namespace sparsekgen {

struct TargetInfo {
  int sm;
  int maxSharedMemoryPerBlock; // bytes, with the opt-in for dynamic shared memory
  int maxThreadsPerBlock;
};

// nullopt for an SM the generator does not target (the message lists the supported ones).
std::optional<TargetInfo> findTarget(int sm);
const std::vector<TargetInfo> &supportedTargets();

} // namespace sparsekgen
