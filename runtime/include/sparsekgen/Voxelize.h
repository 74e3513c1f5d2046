// Voxelization on the GPU; the same result as voxelizeCpu (PointCloud.h).
#pragma once

#include <memory>

#include <cuda.h>

#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/SparseCoordinates.h"

namespace sparsekgen {

struct DeviceVoxels {
  std::shared_ptr<const SparseCoordinates> coordinates; // sorted by (batch, x, y, z)
  DeviceBuffer firstPoint;                              // int32 [voxels]
  DeviceBuffer meanFeatures;                            // float [voxels, columns] (MeanFeatures only)
  int columns = 0;
};

// `points`: float32 [rows, columns] on the device, x y z first; `batches`: int32 [rows] or 0 for
// all-zero batch indices. Bad rows throw RuntimeError naming the row.
DeviceVoxels voxelizeGpu(CUdeviceptr points, int rows, int columns, float voxelSize, VoxelReduction reduction,
                         CUdeviceptr batches = 0, CUstream stream = nullptr);

} // namespace sparsekgen
