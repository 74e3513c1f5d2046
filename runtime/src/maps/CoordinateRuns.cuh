// Rows grouped by coordinate on the GPU: sort (coordinate, row) pairs, find the runs of equal
// coordinates, and where each run starts. De-duplication and voxelization both start here.
#pragma once

#include "device/DeviceUtil.cuh"

namespace sparsekgen::gpu {

struct CoordinateRuns {
  int runs = 0;
  DeviceBuffer unique;     // [runs] Coordinate: the distinct coordinates, sorted by (batch, x, y, z)
  DeviceBuffer sortedRows; // [rows] int32: the row ids in coordinate order
  DeviceBuffer starts;     // [runs] int: where each run begins in sortedRows
  DeviceBuffer lengths;    // [runs] int (allocated for rows): how many rows each run holds
};

// Groups `rows` coordinates `keys`, each carrying `rowIds[r]`; `what` ("coordinates", "voxels")
// names the data in CUB and copy errors. `rows` > 0.
CoordinateRuns groupByCoordinate(const Coordinate *keys, const int32_t *rowIds, int rows, cudaStream_t stream,
                                 const char *what);

} // namespace sparsekgen::gpu
