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

int floorDiv(int value, int divisor) {
  int quotient = value / divisor;
  return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient;
}

void checkGeometry(const ConvGeometry &geometry) {
  for (int axis = 0; axis < 3; ++axis) {
    if (geometry.kernelSize[axis] < 1 || geometry.stride[axis] < 1 || geometry.dilation[axis] < 1)
      throw RuntimeError(fmt::format("kernel size, stride and dilation must be positive; axis {} has {}, {}, {}",
                                     axis, geometry.kernelSize[axis], geometry.stride[axis],
                                     geometry.dilation[axis]));
  }
}

} // namespace

std::vector<std::array<int, 3>> kernelOffsets(const ConvGeometry &geometry) {
  checkGeometry(geometry);
  std::array<std::vector<int>, 3> axes;
  for (int axis = 0; axis < 3; ++axis) {
    int size = geometry.kernelSize[axis];
    for (int v = floorDiv(-size, 2) + 1; v < floorDiv(size, 2) + 1; ++v)
      axes[axis].push_back(v * geometry.dilation[axis]);
  }
  std::vector<std::array<int, 3>> offsets;
  if (geometry.volume() % 2 == 1) {
    for (int z : axes[2])
      for (int y : axes[1])
        for (int x : axes[0])
          offsets.push_back({x, y, z});
  } else {
    for (int x : axes[0])
      for (int y : axes[1])
        for (int z : axes[2])
          offsets.push_back({x, y, z});
  }
  return offsets;
}

KernelMap buildKernelMapCpu(const std::vector<Coordinate> &inputs, const ConvGeometry &geometry) {
  auto offsets = kernelOffsets(geometry);
  std::unordered_map<Coordinate, int32_t, CoordinateHash> index;
  index.reserve(inputs.size() * 2);
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto [it, inserted] = index.emplace(inputs[i], static_cast<int32_t>(i));
    if (!inserted) {
      const Coordinate &c = inputs[i];
      throw RuntimeError(fmt::format("duplicate coordinate (batch {}, x {}, y {}, z {}) at rows {} and {}", c.batch,
                                     c.x, c.y, c.z, it->second, i));
    }
  }

  KernelMap map;
  map.inputCount = static_cast<int>(inputs.size());
  map.volume = static_cast<int>(offsets.size());
  if (geometry.strided()) {
    map.outputs.reserve(inputs.size());
    for (const Coordinate &c : inputs)
      map.outputs.push_back({c.batch, floorDiv(c.x, geometry.stride[0]), floorDiv(c.y, geometry.stride[1]),
                             floorDiv(c.z, geometry.stride[2])});
    std::sort(map.outputs.begin(), map.outputs.end());
    map.outputs.erase(std::unique(map.outputs.begin(), map.outputs.end()), map.outputs.end());
  } else {
    map.outputs = inputs;
  }

  map.outInMap.assign(map.outputs.size() * offsets.size(), -1);
  for (size_t j = 0; j < map.outputs.size(); ++j) {
    const Coordinate &o = map.outputs[j];
    for (size_t k = 0; k < offsets.size(); ++k) {
      Coordinate probe{o.batch, o.x * geometry.stride[0] + offsets[k][0], o.y * geometry.stride[1] + offsets[k][1],
                       o.z * geometry.stride[2] + offsets[k][2]};
      if (auto it = index.find(probe); it != index.end())
        map.outInMap[j * offsets.size() + k] = it->second;
    }
  }
  return map;
}

} // namespace sparsekgen
