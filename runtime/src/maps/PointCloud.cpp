#include "sparsekgen/PointCloud.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

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

std::vector<Coordinate> loadZyxCoordinateFile(const std::string &path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file)
    throw RuntimeError(fmt::format("{}: cannot open the coordinate file", path));
  auto bytes = static_cast<size_t>(file.tellg());
  if (bytes % 16 != 0)
    throw RuntimeError(fmt::format("{}: {} bytes is not a whole number of int32 [batch, z, y, x] rows", path, bytes));
  std::vector<int32_t> raw(bytes / 4);
  file.seekg(0);
  file.read(reinterpret_cast<char *>(raw.data()), static_cast<std::streamsize>(bytes));
  std::vector<Coordinate> coordinates;
  coordinates.reserve(raw.size() / 4);
  for (size_t r = 0; r < raw.size(); r += 4)
    coordinates.push_back({raw[r], raw[r + 3], raw[r + 2], raw[r + 1]});
  return coordinates;
}

Voxels voxelizeCpu(const PointCloud &cloud, float voxelSize, VoxelReduction reduction,
                   const std::vector<int32_t> &batches) {
  if (!(voxelSize > 0.0f) || !std::isfinite(voxelSize))
    throw RuntimeError(fmt::format("voxel size must be positive and finite, got {}", voxelSize));
  const size_t points = cloud.points();
  if (!batches.empty() && batches.size() != points)
    throw RuntimeError(fmt::format("{} batch indices for {} points", batches.size(), points));
  std::vector<Coordinate> voxelOf(points);
  for (size_t p = 0; p < points; ++p) {
    int32_t batch = batches.empty() ? 0 : batches[p];
    if (batch < 0)
      throw RuntimeError(fmt::format("point row {}: batch index {} is negative", p, batch));
    int32_t axes[3];
    for (int axis = 0; axis < 3; ++axis) {
      float v = std::floor(cloud.values[p * cloud.columns + axis] / voxelSize);
      if (!(v >= -static_cast<float>(kCoordinateLimit) && v < static_cast<float>(kCoordinateLimit)))
        throw RuntimeError(fmt::format("point row {}: {} = {} gives voxel coordinate {}, outside [-2^30, 2^30)", p,
                                       "xyz"[axis], cloud.values[p * cloud.columns + axis], v));
      axes[axis] = static_cast<int32_t>(v);
    }
    voxelOf[p] = {batch, axes[0], axes[1], axes[2]};
  }
  std::vector<int32_t> order(points);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return voxelOf[a] < voxelOf[b]; });

  Voxels voxels;
  voxels.columns = cloud.columns;
  std::vector<double> sum(cloud.columns);
  for (size_t begin = 0; begin < points;) {
    size_t end = begin;
    while (end < points && voxelOf[order[end]] == voxelOf[order[begin]])
      ++end;
    voxels.coordinates.push_back(voxelOf[order[begin]]);
    voxels.firstPoint.push_back(order[begin]);
    if (reduction == VoxelReduction::MeanFeatures) {
      std::fill(sum.begin(), sum.end(), 0.0);
      for (size_t r = begin; r < end; ++r)
        for (int c = 0; c < cloud.columns; ++c)
          sum[c] += cloud.values[static_cast<size_t>(order[r]) * cloud.columns + c];
      for (int c = 0; c < cloud.columns; ++c)
        voxels.meanFeatures.push_back(static_cast<float>(sum[c] / static_cast<double>(end - begin)));
    }
    begin = end;
  }
  return voxels;
}

std::vector<Coordinate> voxelize(const PointCloud &cloud, float voxelSize, int batch) {
  std::vector<int32_t> batches(batch == 0 ? 0 : cloud.points(), batch);
  return voxelizeCpu(cloud, voxelSize, VoxelReduction::FirstPoint, batches).coordinates;
}

} // namespace sparsekgen
