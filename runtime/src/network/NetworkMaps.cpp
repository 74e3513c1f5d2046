#include "network/NetworkMaps.h"

#include <vector>

#include "network/NetworkOps.h"
#include "sparsekgen/DeviceBuffer.h"

namespace sparsekgen {

NetworkMaps buildNetworkMaps(const Network &network, CUdeviceptr coordinates, int rows) {
  NetworkMaps built;
  built.levels["l0"] = SparseCoordinates::fromDevice(coordinates, rows);
  for (const auto &m : network.maps) {
    if (m.transposed()) {
      built.maps.emplace(m.name, transposedKernelMapGpu(built.maps.at(m.mirrors)));
      continue;
    }
    built.maps.emplace(m.name, buildKernelMapGpu(built.levels.at(m.coordinates), m.geometry));
    if (!m.produces.empty())
      built.levels[m.produces] = built.maps.at(m.name).outputs;
  }
  // Dispatch needs every map's pair count on the host: one read-back for all of them.
  std::vector<CUdeviceptr> mapPointers;
  std::vector<long long> entries;
  for (const auto &m : network.maps) {
    const DeviceKernelMap &map = built.maps.at(m.name);
    mapPointers.push_back(map.outInMap.get());
    entries.push_back(static_cast<long long>(map.outputCount()) * map.volume);
  }
  DeviceBuffer counts(mapPointers.size() * sizeof(long long));
  countMapPairs(mapPointers, entries, counts.get(), nullptr);
  auto hostCounts = counts.download<long long>();
  for (size_t i = 0; i < network.maps.size(); ++i)
    built.pairs[network.maps[i].name] = hostCounts[i];
  return built;
}

void bindMapExtras(ConvForwardArguments &args, const DeviceKernelMapExtras &extras) {
  args.permutation = extras.splitPermutations.get();
  args.tileMasks = extras.tileMasks.get();
  args.maskWords = extras.groupMaskWords;
  args.pairInputs = extras.pairInputs.get();
  args.pairOutputs = extras.pairOutputs.get();
  args.pairOffsets = extras.pairOffsets;
}

} // namespace sparsekgen
