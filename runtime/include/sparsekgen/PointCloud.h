// Raw point files (float32 rows, no header) and CPU voxelization, the reference for the GPU's.
#pragma once

#include <cstdint>
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

enum class VoxelReduction {
  FirstPoint,   // each voxel keeps the index of its first point (lowest row)
  MeanFeatures, // each voxel gets the mean of its points' columns (x y z and the rest)
};

struct Voxels {
  std::vector<Coordinate> coordinates; // sorted by (batch, x, y, z), unique
  std::vector<int32_t> firstPoint;     // per voxel, the lowest point row that falls in it
  std::vector<float> meanFeatures;     // MeanFeatures only: [voxels, columns]
  int columns = 0;
};

// Voxel of a point: (batch, floor(x / s), floor(y / s), floor(z / s)) in float32 arithmetic (the GPU
// voxelizer computes the same). `batches` gives each point's batch index (all 0 when empty).
// Non-finite points or voxel coordinates outside [-2^30, 2^30) throw RuntimeError naming the row.
Voxels voxelizeCpu(const PointCloud &cloud, float voxelSize, VoxelReduction reduction,
                   const std::vector<int32_t> &batches = {});

// The coordinates of voxelizeCpu(cloud, voxelSize, FirstPoint) with every point in `batch`.
std::vector<Coordinate> voxelize(const PointCloud &cloud, float voxelSize, int batch = 0);

// Voxel coordinates stored as int32 [N, 4] rows (batch, z, y, x), spconv's layout; returned as
// (batch, x, y, z). Throws RuntimeError naming the file when it is unreadable or not whole rows.
std::vector<Coordinate> loadZyxCoordinateFile(const std::string &path);

// Coordinates must lie in [-kCoordinateLimit, kCoordinateLimit) so that a coordinate times a stride
// plus a kernel offset cannot overflow int32; batch indices must be >= 0.
constexpr int32_t kCoordinateLimit = 1 << 30;

} // namespace sparsekgen
