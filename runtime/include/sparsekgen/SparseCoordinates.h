// Coordinates on the GPU and the hash table every kernel map built from them reads.
//
// The hash table is open addressing with linear probing over 64-bit slots; a slot packs a 32-bit
// fingerprint of (batch, x, y, z) with the 32-bit row that holds the coordinate, and a fingerprint
// match is confirmed against the coordinates themselves. Maps are therefore exact for any int32
// coordinates, and the table is sized from its input (a power of two of at least twice the rows),
// so it never runs out of capacity.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <cuda.h>

#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/KernelMap.h"

namespace sparsekgen {

// The box the coordinates lie in; it decides whether they pack into 64-bit sort keys.
struct CoordinateBounds {
  int32_t maxBatch = 0;
  int32_t min[3] = {0, 0, 0}, max[3] = {0, 0, 0};
};

struct CoordinateHashTable {
  DeviceBuffer slots;      // uint64 [capacity]
  uint32_t capacity = 0;   // power of two
};

class SparseCoordinates {
public:
  // Copies `coordinates` to the device and checks them: batch >= 0, x, y, z in
  // [-kCoordinateLimit, kCoordinateLimit), no duplicates (RuntimeError naming the rows otherwise).
  static std::shared_ptr<const SparseCoordinates> fromHost(const std::vector<Coordinate> &coordinates,
                                                           CUstream stream = nullptr);
  // Same, from device memory (int32 [rows, 4]); the coordinates are copied.
  static std::shared_ptr<const SparseCoordinates> fromDevice(CUdeviceptr coordinates, int rows,
                                                             CUstream stream = nullptr);
  // For the builders' outputs, which are unique, in range and inside `bounds` by construction.
  static std::shared_ptr<const SparseCoordinates> adopt(DeviceBuffer coordinates, int rows,
                                                        const CoordinateBounds &bounds);
  // Same, with the hash table the builder already made over the first `rows` rows. `coordinates`
  // may hold more rows than `rows` (a buffer sized before the count was known); they are ignored.
  static std::shared_ptr<const SparseCoordinates> adoptHashed(DeviceBuffer coordinates, int rows,
                                                              const CoordinateBounds &bounds,
                                                              CoordinateHashTable table);

  int size() const { return rows_; }
  CUdeviceptr data() const { return coordinates_.get(); } // int32 [size(), 4] = (batch, x, y, z)
  uint64_t id() const { return id_; }                     // unique per object, for map caches
  const CoordinateBounds &bounds() const { return bounds_; } // meaningful when size() > 0
  std::vector<Coordinate> download() const;

  // Built on first use (on `stream`), then shared by every map whose inputs these are.
  const CoordinateHashTable &hashTable(CUstream stream = nullptr) const;

private:
  SparseCoordinates(DeviceBuffer coordinates, int rows, const CoordinateBounds &bounds, bool knownUnique);
  DeviceBuffer coordinates_;
  int rows_ = 0;
  uint64_t id_ = 0;
  CoordinateBounds bounds_;
  bool knownUnique_ = false; // skip the duplicate check when the table is built
  mutable std::once_flag tableOnce_;
  mutable CoordinateHashTable table_;
};

struct DeduplicatedCoordinates {
  std::shared_ptr<const SparseCoordinates> unique; // sorted by (batch, x, y, z)
  DeviceBuffer rowToUnique;                        // int32 [input rows]: the unique row of each input row
};

// For inputs that may repeat coordinates: merges them instead of refusing them. Range checks apply.
DeduplicatedCoordinates deduplicateCoordinates(CUdeviceptr coordinates, int rows, CUstream stream = nullptr);

} // namespace sparsekgen
