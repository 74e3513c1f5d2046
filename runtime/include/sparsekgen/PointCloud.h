// Raw point files (float32 rows, no header) and CPU voxelization, for demos, tests and benchmarks.
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/KernelMap.h"

namespace sparsekgen {

struct PointCloud {
  std::vector<float> values; // [points, columns], x y z first
  int columns = 0;
  size_t points() const { return columns ? values.size() / columns : 0; }
};

// Throws RuntimeError naming the file when it cannot be read or its size is not a whole number of rows.
PointCloud loadPointFile(const std::string &path, int columns);

// floor(xyz / voxelSize) per point, de-duplicated keeping the first point, in order of first
// appearance; every voxel gets batch index `batch`.
std::vector<Coordinate> voxelize(const PointCloud &cloud, float voxelSize, int batch = 0);

} // namespace sparsekgen
