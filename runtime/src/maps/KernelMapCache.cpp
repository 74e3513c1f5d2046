#include "sparsekgen/KernelMapCache.h"

namespace sparsekgen {

std::shared_ptr<const DeviceKernelMap> KernelMapCache::get(const std::shared_ptr<const SparseCoordinates> &coordinates,
                                                           const ConvGeometry &geometry, MapKind kind,
                                                           CUstream stream) {
  Key key{coordinates->id(), geometry.kernelSize, geometry.stride, geometry.dilation, static_cast<int>(kind)};
  {
    std::lock_guard lock(mutex_);
    if (auto it = maps_.find(key); it != maps_.end()) {
      recency_.splice(recency_.begin(), recency_, it->second.second);
      ++hits_;
      return it->second.first;
    }
  }
  std::shared_ptr<const DeviceKernelMap> built;
  switch (kind) {
  case MapKind::Forward:
    built = std::make_shared<DeviceKernelMap>(buildKernelMapGpu(coordinates, geometry, stream));
    break;
  case MapKind::Transposed:
    built = std::make_shared<DeviceKernelMap>(
        transposedKernelMapGpu(*get(coordinates, geometry, MapKind::Forward, stream), stream));
    break;
  case MapKind::GenerativeTransposed:
    built = std::make_shared<DeviceKernelMap>(generativeTransposedKernelMapGpu(coordinates, geometry, stream));
    break;
  }
  std::lock_guard lock(mutex_);
  ++builds_;
  if (auto it = maps_.find(key); it != maps_.end()) // built concurrently by another thread
    return it->second.first;
  recency_.push_front(key);
  maps_.emplace(key, std::make_pair(built, recency_.begin()));
  while (maps_.size() > capacity_) {
    maps_.erase(recency_.back());
    recency_.pop_back();
  }
  return built;
}

void KernelMapCache::clear() {
  std::lock_guard lock(mutex_);
  maps_.clear();
  recency_.clear();
}

size_t KernelMapCache::size() const {
  std::lock_guard lock(mutex_);
  return maps_.size();
}

} // namespace sparsekgen
