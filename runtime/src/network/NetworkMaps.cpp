#include "network/NetworkMaps.h"

#include <vector>

#include <fmt/format.h>

#include "network/NetworkOps.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

NetworkMapBuilder::NetworkMapBuilder(const Network &network, CUdeviceptr coordinates, int rows, CUstream stream)
    : network_(network), coordinates_(coordinates), rows_(rows), stream_(stream) {}

void NetworkMapBuilder::buildInput() {
  if (built_.levels.empty())
    built_.levels["l0"] = SparseCoordinates::fromDevice(coordinates_, rows_, stream_);
}

void NetworkMapBuilder::buildNext() {
  buildInput();
  const WorkloadMap &m = network_.maps[next_];
  if (m.transposed()) {
    built_.maps.emplace(m.name, transposedKernelMapGpu(built_.maps.at(m.mirrors), stream_));
  } else {
    built_.maps.emplace(m.name, buildKernelMapGpu(built_.levels.at(m.coordinates), m.geometry, stream_));
    if (!m.produces.empty())
      built_.levels[m.produces] = built_.maps.at(m.name).outputs;
  }
  ++next_;
}

// Dispatch needs the pair counts on the host: one read-back for every map built since the last.
void NetworkMapBuilder::countPairs() {
  if (counted_ == next_)
    return;
  std::vector<CUdeviceptr> mapPointers;
  std::vector<long long> entries;
  for (size_t i = counted_; i < next_; ++i) {
    const DeviceKernelMap &map = built_.maps.at(network_.maps[i].name);
    mapPointers.push_back(map.outInMap.get());
    entries.push_back(static_cast<long long>(map.outputCount()) * map.volume);
  }
  DeviceBuffer counts(mapPointers.size() * sizeof(long long), stream_);
  countMapPairs(mapPointers, entries, counts.get(), stream_);
  auto hostCounts = counts.download<long long>();
  for (size_t i = counted_; i < next_; ++i)
    built_.pairs[network_.maps[i].name] = hostCounts[i - counted_];
  counted_ = next_;
}

void NetworkMapBuilder::buildThrough(const std::string &map) {
  while (!built_.maps.count(map)) {
    if (complete())
      throw RuntimeError(fmt::format("network {}: no map '{}'", network_.name, map));
    buildNext();
  }
  countPairs();
}

void NetworkMapBuilder::buildLevel(const std::string &level) {
  buildInput();
  while (!built_.levels.count(level)) {
    if (complete())
      throw RuntimeError(fmt::format("network {}: no map produces level '{}'", network_.name, level));
    buildNext();
  }
  countPairs();
}

void NetworkMapBuilder::buildAll() {
  buildInput();
  while (!complete())
    buildNext();
  countPairs();
}

NetworkMaps buildNetworkMaps(const Network &network, CUdeviceptr coordinates, int rows) {
  NetworkMapBuilder builder(network, coordinates, rows, nullptr);
  builder.buildAll();
  return std::move(builder.maps());
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
