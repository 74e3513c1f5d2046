#include "sparsekgen/Voxelize.h"

#include <climits>
#include <cmath>


#include "maps/CoordinateRuns.cuh"

namespace sparsekgen {

namespace {

using gpu::blocksFor;
using gpu::as;
using gpu::kThreads;

// Same float arithmetic as voxelizeCpu: floor(value / voxelSize), IEEE division.
// summary = {first bad row, max batch, min x, min y, min z, max x, max y, max z}
__global__ void voxelOfPoints(const float *points, int rows, int columns, float voxelSize, const int32_t *batches,
                              Coordinate *voxels, int32_t *rowIds, int *summary) {
  int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= rows)
    return;
  constexpr float limit = 1073741824.0f; // 2^30
  int32_t axes[3];
  bool ok = true;
  for (int axis = 0; axis < 3; ++axis) {
    float v = floorf(__fdiv_rn(points[static_cast<long long>(p) * columns + axis], voxelSize));
    ok = ok && v >= -limit && v < limit; // false for NaN too
    axes[axis] = ok ? static_cast<int32_t>(v) : 0;
  }
  int32_t batch = batches ? batches[p] : 0;
  if (!ok || batch < 0) {
    atomicMin(&summary[0], p);
  } else {
    atomicMax(&summary[1], batch);
    for (int axis = 0; axis < 3; ++axis) {
      atomicMin(&summary[2 + axis], axes[axis]);
      atomicMax(&summary[5 + axis], axes[axis]);
    }
  }
  voxels[p] = {batch, axes[0], axes[1], axes[2]};
  rowIds[p] = p;
}

__global__ void firstPointOfRuns(const int32_t *sortedRows, const int *runStarts, int runs, int32_t *firstPoint) {
  int v = blockIdx.x * blockDim.x + threadIdx.x;
  if (v < runs)
    firstPoint[v] = sortedRows[runStarts[v]];
}

// Sums in double in the points' original order, as voxelizeCpu does, so the means agree exactly.
__global__ void meanOfRuns(const float *points, int columns, const int32_t *sortedRows, const int *runStarts,
                           const int *runLengths, int runs, float *means) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= static_cast<long long>(runs) * columns)
    return;
  int v = static_cast<int>(t / columns), c = static_cast<int>(t % columns);
  double sum = 0.0;
  for (int r = runStarts[v], end = r + runLengths[v]; r < end; ++r)
    sum += points[static_cast<long long>(sortedRows[r]) * columns + c];
  means[t] = static_cast<float>(sum / static_cast<double>(runLengths[v]));
}


} // namespace

DeviceVoxels voxelizeGpu(CUdeviceptr points, int rows, int columns, float voxelSize, VoxelReduction reduction,
                         CUdeviceptr batches, CUstream driverStream) {
  if (!(voxelSize > 0.0f) || !std::isfinite(voxelSize))
    throw RuntimeError(fmt::format("voxel size must be positive and finite, got {}", voxelSize));
  if (columns < 3 || rows < 0)
    throw RuntimeError(fmt::format("points must be [rows >= 0, columns >= 3], got [{}, {}]", rows, columns));
  auto stream = gpu::runtimeStream(driverStream);
  DeviceVoxels result;
  result.columns = columns;
  if (rows == 0) {
    result.coordinates = SparseCoordinates::adopt(DeviceBuffer(), 0, CoordinateBounds{});
    return result;
  }
  DeviceBuffer voxels(static_cast<size_t>(rows) * sizeof(Coordinate), driverStream);
  DeviceBuffer rowIds(static_cast<size_t>(rows) * sizeof(int32_t), driverStream);
  std::vector<int> initial = {INT_MAX, INT_MIN, INT_MAX, INT_MAX, INT_MAX, INT_MIN, INT_MIN, INT_MIN};
  DeviceBuffer summary = DeviceBuffer::from(initial, driverStream);
  voxelOfPoints<<<blocksFor(rows), kThreads, 0, stream>>>(
      reinterpret_cast<const float *>(points), rows, columns, voxelSize, reinterpret_cast<const int32_t *>(batches),
      as<Coordinate>(voxels), as<int32_t>(rowIds), as<int>(summary));
  gpu::checkLaunch("voxelOfPoints");
  auto s = summary.download<int>();
  const CoordinateBounds bounds{s[1], {s[2], s[3], s[4]}, {s[5], s[6], s[7]}};
  if (int bad = s[0]; bad != INT_MAX) {
    std::vector<float> row(columns);
    int32_t batch = 0;
    gpu::check(cudaMemcpy(row.data(), reinterpret_cast<const float *>(points) + static_cast<size_t>(bad) * columns,
                          columns * sizeof(float), cudaMemcpyDeviceToHost),
               "cudaMemcpy of the offending point");
    if (batches)
      gpu::check(cudaMemcpy(&batch, reinterpret_cast<const int32_t *>(batches) + bad, sizeof(batch),
                            cudaMemcpyDeviceToHost),
                 "cudaMemcpy of the offending batch index");
    throw RuntimeError(fmt::format("point row {} (batch {}, x {}, y {}, z {}) has a negative batch index, a "
                                   "non-finite coordinate, or a voxel coordinate outside [-2^30, 2^30) at voxel "
                                   "size {}",
                                   bad, batch, row[0], row[1], row[2], voxelSize));
  }

  auto grouped = gpu::groupByCoordinate(as<Coordinate>(voxels), as<int32_t>(rowIds), rows, stream, "voxels");
  const int runs = grouped.runs;
  result.firstPoint = DeviceBuffer(static_cast<size_t>(runs) * sizeof(int32_t), driverStream);
  firstPointOfRuns<<<blocksFor(runs), kThreads, 0, stream>>>(as<int32_t>(grouped.sortedRows), as<int>(grouped.starts),
                                                             runs, as<int32_t>(result.firstPoint));
  gpu::checkLaunch("firstPointOfRuns");
  if (reduction == VoxelReduction::MeanFeatures) {
    result.meanFeatures = DeviceBuffer(static_cast<size_t>(runs) * columns * sizeof(float), driverStream);
    meanOfRuns<<<blocksFor(static_cast<long long>(runs) * columns), kThreads, 0, stream>>>(
        reinterpret_cast<const float *>(points), columns, as<int32_t>(grouped.sortedRows), as<int>(grouped.starts),
        as<int>(grouped.lengths), runs, as<float>(result.meanFeatures));
    gpu::checkLaunch("meanOfRuns");
  }
  result.coordinates = SparseCoordinates::adopt(std::move(grouped.unique), runs, bounds);
  return result;
}

} // namespace sparsekgen
