#include "network/NetworkMaps.h"

#include <vector>

#include "maps/CountedKernelMaps.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

NetworkMaps buildNetworkMaps(const Network &network, CUdeviceptr coordinates, int rows) {
  // Read-back 1: the input's range and duplicate checks (and its bounds, which size every level's
  // sort keys).
  auto input = SparseCoordinates::fromDevice(coordinates, rows);

  // Everything else is enqueued with the row counts left on the device: one slot per level, then one
  // pair count per map.
  size_t levelSlots = 1;
  for (const auto &m : network.maps)
    levelSlots += !m.transposed() && m.geometry.strided();
  const size_t slots = levelSlots + network.maps.size();
  DeviceBuffer counts(slots * sizeof(long long));
  checkCuda(cuMemsetD8Async(counts.get(), 0, counts.bytes(), nullptr), "cuMemsetD8Async", "(map stage counts)");
  auto slot = [&](size_t i) { return reinterpret_cast<long long *>(counts.get()) + i; };
  auto pairSlot = [&](size_t map) { return reinterpret_cast<unsigned long long *>(slot(levelSlots + map)); };

  struct PendingMap {
    const WorkloadMap *spec;
    ConvGeometry geometry;
    size_t inputLevel, outputLevel;
    DeviceBuffer outInMap;
  };
  std::vector<CountedLevel> levels;
  levels.push_back(countedLevelOf(input, slot(0), nullptr));
  std::map<std::string, size_t> levelIndex = {{"l0", 0}}, mapIndex;
  std::vector<PendingMap> pending;
  for (const auto &m : network.maps) {
    if (m.transposed()) {
      const PendingMap &strided = pending.at(mapIndex.at(m.mirrors));
      const int volume = strided.geometry.volume();
      pending.push_back({&m, strided.geometry, strided.outputLevel, strided.inputLevel,
                         countedTransposedOutInMap(strided.outInMap, levels[strided.outputLevel].upperBound,
                                                   levels[strided.inputLevel].upperBound, volume, nullptr)});
    } else {
      const size_t in = levelIndex.at(m.coordinates);
      size_t out = in;
      if (m.geometry.strided()) {
        CountedLevel next = downsampledCountedLevel(levels[in], m.geometry, slot(levels.size()), nullptr);
        levels.push_back(std::move(next));
        out = levels.size() - 1;
        if (!m.produces.empty())
          levelIndex[m.produces] = out;
      }
      pending.push_back(
          {&m, m.geometry, in, out, countedOutInMap(levels[in], levels[out], m.geometry, pairSlot(pending.size()), nullptr)});
    }
    mapIndex[m.name] = pending.size() - 1;
  }
  // Read-back 2: every level's rows and every map's pairs, which dispatch needs on the host.
  const std::vector<long long> hostCounts = counts.download<long long>();
  std::vector<std::shared_ptr<const SparseCoordinates>> resolved = {input};
  for (size_t i = 1; i < levels.size(); ++i)
    resolved.push_back(SparseCoordinates::adoptHashed(std::move(levels[i].storage), static_cast<int>(hostCounts[i]),
                                                      levels[i].bounds, std::move(levels[i].table)));
  NetworkMaps built;
  for (const auto &[name, index] : levelIndex)
    built.levels[name] = resolved[index];
  for (size_t i = 0; i < pending.size(); ++i) {
    PendingMap &p = pending[i];
    DeviceKernelMap map;
    map.kind = p.spec->transposed() ? MapKind::Transposed : MapKind::Forward;
    map.geometry = p.geometry;
    map.inputs = resolved[p.inputLevel];
    map.outputs = resolved[p.outputLevel];
    map.volume = p.geometry.volume();
    map.outInMap = std::move(p.outInMap); // sized by the upper bound: rows past outputCount() are -1
    built.maps.emplace(p.spec->name, std::move(map));
    // A transposed map inverts its strided map, pair for pair.
    built.pairs[p.spec->name] = hostCounts[levelSlots + (p.spec->transposed() ? mapIndex.at(p.spec->mirrors) : i)];
  }
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
