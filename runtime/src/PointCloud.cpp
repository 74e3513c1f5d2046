#include "sparsekgen/PointCloud.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "sparsekgen/Errors.h"

namespace sparsekgen {

PointCloud loadPointFile(const std::string &path, int columns) {
  if (columns < 3)
    throw RuntimeError(fmt::format("{}: a point row needs at least 3 columns (x y z), asked for {}", path, columns));
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file)
    throw RuntimeError(fmt::format("{}: cannot open the point file", path));
  auto bytes = static_cast<size_t>(file.tellg());
  size_t rowBytes = sizeof(float) * columns;
  if (bytes % rowBytes != 0)
    throw RuntimeError(fmt::format("{}: {} bytes is not a whole number of {}-column float32 rows ({} bytes each)",
                                   path, bytes, columns, rowBytes));
  PointCloud cloud;
  cloud.columns = columns;
  cloud.values.resize(bytes / sizeof(float));
  file.seekg(0);
  file.read(reinterpret_cast<char *>(cloud.values.data()), static_cast<std::streamsize>(bytes));
  if (!file)
    throw RuntimeError(fmt::format("{}: read failed", path));
  return cloud;
}

std::vector<Coordinate> voxelize(const PointCloud &cloud, float voxelSize, int batch) {
  if (!(voxelSize > 0.0f))
    throw RuntimeError(fmt::format("voxel size must be positive, got {}", voxelSize));
  std::vector<Coordinate> voxels;
  std::set<Coordinate> seen;
  for (size_t p = 0; p < cloud.points(); ++p) {
    Coordinate c{batch, 0, 0, 0};
    int32_t *axes[3] = {&c.x, &c.y, &c.z};
    for (int axis = 0; axis < 3; ++axis) {
      double v = std::floor(static_cast<double>(cloud.values[p * cloud.columns + axis]) / voxelSize);
      if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<int32_t>::max())
        throw RuntimeError(fmt::format("point row {}: coordinate {} is outside the representable voxel range", p,
                                       cloud.values[p * cloud.columns + axis]));
      *axes[axis] = static_cast<int32_t>(v);
    }
    if (seen.insert(c).second)
      voxels.push_back(c);
  }
  return voxels;
}

} // namespace sparsekgen
