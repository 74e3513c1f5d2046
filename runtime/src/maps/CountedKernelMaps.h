// Kernel maps whose row counts stay on the device, so that a network's whole map stage can be
// enqueued before the host reads anything back (NetworkMaps.cpp reads every count at the end, once).
//
// A counted level's buffers are sized by an upper bound on its rows: a downsampled level has at
// most its input's rows, and no more than its bounding box has cells. Rows past the count are
// padding: they are not in the level's hash table, and every map entry of a padding output row is
// -1, so pair counts and inverses over the whole buffers are exact. The maps built here are exactly
// those of buildKernelMapGpu and transposedKernelMapGpu (GPU tests compare them).
#pragma once

#include <memory>

#include <cuda.h>

#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/KernelMap.h"
#include "sparsekgen/SparseCoordinates.h"

namespace sparsekgen {

struct CountedLevel {
  CUdeviceptr rows = 0;              // Coordinate [upperBound]; the first *count are the level's
  int upperBound = 0;
  const long long *count = nullptr;  // device
  CoordinateBounds bounds;           // holds every row in use
  CUdeviceptr tableSlots = 0;        // the level's hash table (SparseCoordinates.h)
  uint32_t tableCapacity = 0;
  // Owned by derived levels; an input level views the SparseCoordinates it came from.
  DeviceBuffer storage;
  CoordinateHashTable table;
};

// A view of coordinates whose rows are known (hashed on `stream` if they were not); their number is
// written to `*count` (device) on `stream`.
CountedLevel countedLevelOf(const std::shared_ptr<const SparseCoordinates> &inputs, long long *count,
                            CUstream stream);

// The outputs of the strided `geometry` over `inputs`, sorted and unique as buildKernelMapGpu makes
// them, hashed; their number goes to `*count` (device).
CountedLevel downsampledCountedLevel(const CountedLevel &inputs, const ConvGeometry &geometry, long long *count,
                                     CUstream stream);

// out_in_map int32 [outputs.upperBound, volume] of `geometry` from `inputs` to `outputs` (the same
// level for submanifold maps); -1 where there is no input and on padding rows. Its pairs are added
// to `*pairs` (device; the caller zeroes it).
DeviceBuffer countedOutInMap(const CountedLevel &inputs, const CountedLevel &outputs, const ConvGeometry &geometry,
                             unsigned long long *pairs, CUstream stream);

// The transposed map's out_in_map [strided inputs' upperBound, volume], from the strided map's
// out_in_map [strided outputs' upperBound, volume]. It has the strided map's pairs.
DeviceBuffer countedTransposedOutInMap(const DeviceBuffer &stridedOutInMap, int stridedOutputsUpper,
                                       int stridedInputsUpper, int volume, CUstream stream);

} // namespace sparsekgen
