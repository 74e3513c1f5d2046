// Device side of the coordinate hash table (SparseCoordinates.h): 64-bit slots holding a 32-bit
// fingerprint and a 32-bit row; equality is always confirmed on the coordinates themselves.
#pragma once

#include <cstdint>

#include "device/DeviceUtil.cuh"
#include "sparsekgen/SparseCoordinates.h"

namespace sparsekgen::gpu {

constexpr uint64_t kEmptySlot = ~0ull; // row 0xFFFFFFFF never exists (rows < 2^31)

__host__ __device__ inline uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

__host__ __device__ inline uint64_t hashCoordinate(const Coordinate &c) {
  uint64_t low = (static_cast<uint64_t>(static_cast<uint32_t>(c.x)) << 32) | static_cast<uint32_t>(c.y);
  uint64_t high = (static_cast<uint64_t>(static_cast<uint32_t>(c.z)) << 32) | static_cast<uint32_t>(c.batch);
  return mix64(low ^ mix64(high + 0x9e3779b97f4a7c15ull));
}

struct HashView {
  unsigned long long *slots;
  uint32_t mask;              // capacity - 1
  const Coordinate *rows;     // the coordinates the slots' rows index

  // The row holding `c`, or -1.
  __device__ int32_t find(const Coordinate &c) const {
    uint64_t h = hashCoordinate(c);
    uint32_t fingerprint = static_cast<uint32_t>(h >> 32);
    for (uint32_t p = static_cast<uint32_t>(h) & mask;; p = (p + 1) & mask) {
      unsigned long long slot = slots[p];
      if (slot == kEmptySlot)
        return -1;
      if (static_cast<uint32_t>(slot >> 32) == fingerprint) {
        int32_t row = static_cast<int32_t>(slot & 0xffffffffu);
        if (sameCoordinate(rows[row], c))
          return row;
      }
    }
  }

  // Inserts `row`; returns the row already holding the same coordinate, or -1.
  __device__ int32_t insert(int32_t row) const {
    const Coordinate c = rows[row];
    uint64_t h = hashCoordinate(c);
    uint32_t fingerprint = static_cast<uint32_t>(h >> 32);
    unsigned long long entry = (static_cast<unsigned long long>(fingerprint) << 32) | static_cast<uint32_t>(row);
    for (uint32_t p = static_cast<uint32_t>(h) & mask;; p = (p + 1) & mask) {
      unsigned long long slot = atomicCAS(&slots[p], kEmptySlot, entry);
      if (slot == kEmptySlot)
        return -1;
      if (static_cast<uint32_t>(slot >> 32) == fingerprint) {
        int32_t other = static_cast<int32_t>(slot & 0xffffffffu);
        if (sameCoordinate(rows[other], c))
          return other;
      }
    }
  }
};

// A table over rows [0, count) of `rows`, sized for `upperRows` (>= count) so that a caller can
// size it before the count is known. `count` (device, nullable: all `upperRows`) lets the rows be
// counted on the GPU; `duplicateFound` (device, nullable) is set to 1 when two rows hold one
// coordinate. Enqueued on `stream`; nothing is read back.
CoordinateHashTable buildCoordinateHashTable(const Coordinate *rows, int upperRows, const long long *count,
                                             int *duplicateFound, cudaStream_t stream);

} // namespace sparsekgen::gpu
