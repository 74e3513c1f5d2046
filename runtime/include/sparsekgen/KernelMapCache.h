// Kernel maps built once per (coordinates, kernel size, stride, dilation, kind): a network's layers
// that share a map get the same one. Held by the Context; bounded (least recently used maps are
// dropped past `capacity`), and cleared between inputs by `clear()`.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "sparsekgen/GpuKernelMaps.h"

namespace sparsekgen {

class KernelMapCache {
public:
  explicit KernelMapCache(size_t capacity = 256) : capacity_(capacity) {}

  // The map of `coordinates` for `geometry` and `kind`, built on `stream` on first request.
  // Forward: coordinates are the inputs (submanifold or strided). Transposed: coordinates are the
  // fine side, i.e. the inputs of the strided convolution it mirrors, whose map it inverts (and
  // caches too). GenerativeTransposed: coordinates are the inputs.
  std::shared_ptr<const DeviceKernelMap> get(const std::shared_ptr<const SparseCoordinates> &coordinates,
                                             const ConvGeometry &geometry, MapKind kind, CUstream stream = nullptr);

  void clear();
  size_t size() const;
  size_t hits() const { return hits_; }
  size_t builds() const { return builds_; }

private:
  using Key = std::tuple<uint64_t, std::array<int, 3>, std::array<int, 3>, std::array<int, 3>, int>;
  mutable std::mutex mutex_;
  size_t capacity_;
  std::list<Key> recency_; // most recent first
  std::map<Key, std::pair<std::shared_ptr<const DeviceKernelMap>, std::list<Key>::iterator>> maps_;
  size_t hits_ = 0, builds_ = 0;
};

} // namespace sparsekgen
