#include "sparsekgen/KernelMap.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

struct CoordinateHash {
  size_t operator()(const Coordinate &c) const {
    uint64_t h = static_cast<uint32_t>(c.batch);
    for (int32_t v : {c.x, c.y, c.z})
      h = h * 0x9e3779b97f4a7c15ull + static_cast<uint32_t>(v);
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

using CoordinateIndex = std::unordered_map<Coordinate, int32_t, CoordinateHash>;

void checkGeometry(const ConvGeometry &geometry) {
  for (int axis = 0; axis < 3; ++axis) {
    if (geometry.kernelSize[axis] < 1 || geometry.stride[axis] < 1 || geometry.dilation[axis] < 1)
      throw RuntimeError(fmt::format("kernel size, stride and dilation must be positive; axis {} has {}, {}, {}",
                                     axis, geometry.kernelSize[axis], geometry.stride[axis],
                                     geometry.dilation[axis]));
  }
}

Coordinate shifted(const Coordinate &c, const std::array<int, 3> &stride, const std::array<int, 3> &offset) {
  return {c.batch, c.x * stride[0] + offset[0], c.y * stride[1] + offset[1], c.z * stride[2] + offset[2]};
}

CoordinateIndex indexCoordinates(const std::vector<Coordinate> &coordinates) {
  CoordinateIndex index;
  index.reserve(coordinates.size() * 2);
  for (size_t i = 0; i < coordinates.size(); ++i) {
    auto [it, inserted] = index.emplace(coordinates[i], static_cast<int32_t>(i));
    if (!inserted) {
      const Coordinate &c = coordinates[i];
      throw RuntimeError(fmt::format("duplicate coordinate (batch {}, x {}, y {}, z {}) at rows {} and {}", c.batch,
                                     c.x, c.y, c.z, it->second, i));
    }
  }
  return index;
}

// [inputCount, volume]: where out_in_map[j][k] = i, inverse[i][k] = j (at most one j per (i, k)).
std::vector<int32_t> invertOutInMap(const KernelMap &map) {
  std::vector<int32_t> inverse(static_cast<size_t>(map.inputCount) * map.volume, -1);
  for (int j = 0; j < map.outputCount(); ++j)
    for (int k = 0; k < map.volume; ++k)
      if (int32_t i = map.at(j, k); i >= 0)
        inverse[static_cast<size_t>(i) * map.volume + k] = j;
  return inverse;
}

} // namespace

void requireUniqueCoordinates(const std::vector<Coordinate> &coordinates) { indexCoordinates(coordinates); }

void requireCoordinatesInRange(const std::vector<Coordinate> &coordinates) {
  constexpr int32_t limit = 1 << 30;
  for (size_t row = 0; row < coordinates.size(); ++row) {
    const Coordinate &c = coordinates[row];
    bool inside = c.batch >= 0;
    for (int32_t v : {c.x, c.y, c.z})
      inside = inside && v >= -limit && v < limit;
    if (!inside)
      throw RuntimeError(fmt::format("coordinate row {} (batch {}, x {}, y {}, z {}) is outside the supported range: "
                                     "batch >= 0 and x, y, z in [-2^30, 2^30)",
                                     row, c.batch, c.x, c.y, c.z));
  }
}

std::vector<std::array<int, 3>> kernelOffsets(const ConvGeometry &geometry) {
  checkGeometry(geometry);
  KernelShape shape = geometry.shape();
  std::vector<std::array<int, 3>> offsets(geometry.volume());
  for (int k = 0; k < geometry.volume(); ++k)
    kernelOffsetAt(shape, k, offsets[k].data());
  return offsets;
}

KernelMap buildKernelMapCpu(const std::vector<Coordinate> &inputs, const ConvGeometry &geometry) {
  auto offsets = kernelOffsets(geometry);
  requireCoordinatesInRange(inputs);
  CoordinateIndex index = indexCoordinates(inputs);

  KernelMap map;
  map.inputCount = static_cast<int>(inputs.size());
  map.volume = static_cast<int>(offsets.size());
  if (geometry.strided()) {
    map.outputs.reserve(inputs.size());
    for (const Coordinate &c : inputs)
      map.outputs.push_back({c.batch, floorDivide(c.x, geometry.stride[0]), floorDivide(c.y, geometry.stride[1]),
                             floorDivide(c.z, geometry.stride[2])});
    std::sort(map.outputs.begin(), map.outputs.end());
    map.outputs.erase(std::unique(map.outputs.begin(), map.outputs.end()), map.outputs.end());
  } else {
    map.outputs = inputs;
  }

  map.outInMap.assign(map.outputs.size() * offsets.size(), -1);
  for (size_t j = 0; j < map.outputs.size(); ++j)
    for (size_t k = 0; k < offsets.size(); ++k)
      if (auto it = index.find(shifted(map.outputs[j], geometry.stride, offsets[k])); it != index.end())
        map.outInMap[j * offsets.size() + k] = it->second;
  return map;
}

KernelMap transposedKernelMapCpu(const KernelMap &strided, const std::vector<Coordinate> &fineCoordinates) {
  if (static_cast<int>(fineCoordinates.size()) != strided.inputCount)
    throw RuntimeError(fmt::format("transposed map: {} fine coordinates for a strided map of {} inputs",
                                   fineCoordinates.size(), strided.inputCount));
  KernelMap map;
  map.outputs = fineCoordinates;
  map.inputCount = strided.outputCount();
  map.volume = strided.volume;
  map.outInMap = invertOutInMap(strided);
  return map;
}

KernelMap generativeTransposedKernelMapCpu(const std::vector<Coordinate> &inputs, const ConvGeometry &geometry) {
  auto offsets = kernelOffsets(geometry);
  indexCoordinates(inputs); // duplicates are an error here too
  KernelMap map;
  map.inputCount = static_cast<int>(inputs.size());
  map.volume = static_cast<int>(offsets.size());
  for (const Coordinate &c : inputs)
    for (const auto &o : offsets)
      map.outputs.push_back(shifted(c, geometry.stride, o));
  std::sort(map.outputs.begin(), map.outputs.end());
  map.outputs.erase(std::unique(map.outputs.begin(), map.outputs.end()), map.outputs.end());
  CoordinateIndex outputIndex = indexCoordinates(map.outputs);
  map.outInMap.assign(map.outputs.size() * offsets.size(), -1);
  for (size_t j = 0; j < inputs.size(); ++j)
    for (size_t k = 0; k < offsets.size(); ++k) {
      int32_t o = outputIndex.at(shifted(inputs[j], geometry.stride, offsets[k]));
      map.outInMap[static_cast<size_t>(o) * offsets.size() + k] = static_cast<int32_t>(j);
    }
  return map;
}

std::pair<int, int> splitGroupRange(int volume, int splits, int group) {
  int width = splitGroupWidth(volume, splits);
  return {std::min(volume, group * width), std::min(volume, (group + 1) * width)};
}

KernelMapExtras kernelMapExtrasCpu(const KernelMap &map, int splits, int tileRows) {
  if (splits < 1 || tileRows < 1)
    throw RuntimeError(fmt::format("kernel map extras need splits >= 1 and tile rows >= 1, got {} and {}", splits,
                                   tileRows));
  KernelMapExtras extras;
  const int n = map.outputCount(), volume = map.volume;
  extras.inOutMap = invertOutInMap(map);

  extras.pairOffsets.assign(volume + 1, 0);
  for (int k = 0; k < volume; ++k) {
    for (int j = 0; j < n; ++j)
      if (int32_t i = map.at(j, k); i >= 0) {
        extras.pairInputs.push_back(i);
        extras.pairOutputs.push_back(j);
      }
    extras.pairOffsets[k + 1] = static_cast<int32_t>(extras.pairInputs.size());
  }

  extras.maskWords = maskWordCount(volume);
  extras.bitmasks.assign(static_cast<size_t>(n) * extras.maskWords, 0u);
  for (int j = 0; j < n; ++j)
    for (int k = 0; k < volume; ++k)
      if (map.at(j, k) >= 0)
        extras.bitmasks[static_cast<size_t>(j) * extras.maskWords + k / 32] |= 1u << (k % 32);

  extras.splits = splits;
  extras.tileRows = tileRows;
  extras.groupMaskWords = groupMaskWordCount(volume, splits);
  int tiles = (n + tileRows - 1) / tileRows;
  extras.splitPermutations.resize(static_cast<size_t>(splits) * n);
  extras.tileMasks.assign(static_cast<size_t>(splits) * tiles * extras.groupMaskWords, 0u);
  std::vector<uint32_t> groupMask(static_cast<size_t>(n) * extras.groupMaskWords);
  for (int g = 0; g < splits; ++g) {
    auto [first, last] = splitGroupRange(volume, splits, g);
    std::fill(groupMask.begin(), groupMask.end(), 0u);
    for (int j = 0; j < n; ++j)
      for (int k = first; k < last; ++k)
        if (map.at(j, k) >= 0)
          groupMask[static_cast<size_t>(j) * extras.groupMaskWords + (k - first) / 32] |= 1u << ((k - first) % 32);
    int32_t *permutation = &extras.splitPermutations[static_cast<size_t>(g) * n];
    for (int j = 0; j < n; ++j)
      permutation[j] = j;
    auto maskOf = [&](int32_t row) { return &groupMask[static_cast<size_t>(row) * extras.groupMaskWords]; };
    std::stable_sort(permutation, permutation + n, [&](int32_t a, int32_t b) {
      for (int w = extras.groupMaskWords - 1; w >= 0; --w)
        if (maskOf(a)[w] != maskOf(b)[w])
          return maskOf(a)[w] > maskOf(b)[w];
      return false;
    });
    for (int r = 0; r < n; ++r)
      for (int w = 0; w < extras.groupMaskWords; ++w)
        extras.tileMasks[(static_cast<size_t>(g) * tiles + r / tileRows) * extras.groupMaskWords + w] |=
            maskOf(permutation[r])[w];
  }
  return extras;
}

} // namespace sparsekgen
