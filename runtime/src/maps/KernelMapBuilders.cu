#include "sparsekgen/GpuKernelMaps.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>

#include "maps/CoordinateHashing.cuh"

namespace sparsekgen {

namespace {

using gpu::blocksFor;
using gpu::as;
using gpu::kThreads;

__device__ Coordinate shifted(const Coordinate &c, const KernelShape &shape, int k) {
  int offset[3];
  kernelOffsetAt(shape, k, offset);
  return {c.batch, c.x * shape.stride[0] + offset[0], c.y * shape.stride[1] + offset[1],
          c.z * shape.stride[2] + offset[2]};
}

gpu::HashView hashViewOf(const SparseCoordinates &coordinates, cudaStream_t stream) {
  const CoordinateHashTable &table = coordinates.hashTable(gpu::driverStream(stream));
  return {reinterpret_cast<unsigned long long *>(table.slots.get()), table.capacity - 1,
          reinterpret_cast<const Coordinate *>(coordinates.data())};
}

// out_in_map[j][k] = row of outputs[j] * stride + offset(k) among the inputs, or -1.
__global__ void lookupNeighbours(gpu::HashView inputs, const Coordinate *outputs, long long outputCount,
                                 KernelShape shape, int volume, int32_t *outInMap) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= outputCount * volume)
    return;
  long long j = t / volume;
  outInMap[t] = inputs.find(shifted(outputs[j], shape, static_cast<int>(t - j * volume)));
}

__global__ void downsampledCandidates(const Coordinate *inputs, int n, KernelShape shape, Coordinate *candidates) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  Coordinate c = inputs[i];
  candidates[i] = {c.batch, floorDivide(c.x, shape.stride[0]), floorDivide(c.y, shape.stride[1]),
                   floorDivide(c.z, shape.stride[2])};
}

__global__ void expandedCandidates(const Coordinate *inputs, long long n, KernelShape shape, int volume,
                                   Coordinate *candidates) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= n * volume)
    return;
  long long j = t / volume;
  candidates[t] = shifted(inputs[j], shape, static_cast<int>(t - j * volume));
}

// Generative: output o = inputs[j] * stride + offset(k) reads input j at offset k.
__global__ void scatterGenerative(gpu::HashView outputs, const Coordinate *inputs, long long n, KernelShape shape,
                                  int volume, int32_t *outInMap) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= n * volume)
    return;
  long long j = t / volume;
  int k = static_cast<int>(t - j * volume);
  int32_t o = outputs.find(shifted(inputs[j], shape, k));
  outInMap[static_cast<long long>(o) * volume + k] = static_cast<int32_t>(j);
}

// Coordinates inside known bounds pack into one 64-bit key whose order is the (batch, x, y, z)
// order: batch above x above y above z, each field offset from the box's minimum. Sorting these
// takes a quarter of the radix passes of 128-bit coordinates.
struct KeyPacking {
  int bits[3] = {0, 0, 0}; // x, y, z field widths
  int batchBits = 0;
  int32_t min[3] = {0, 0, 0};
  int totalBits() const { return batchBits + bits[0] + bits[1] + bits[2]; }
};

int bitsFor(uint64_t span) {
  int bits = 0;
  while (bits < 64 && (span >> bits) != 0)
    ++bits;
  return bits;
}

KeyPacking packingFor(const CoordinateBounds &bounds) {
  KeyPacking packing;
  for (int axis = 0; axis < 3; ++axis) {
    packing.min[axis] = bounds.min[axis];
    packing.bits[axis] = bitsFor(static_cast<uint64_t>(static_cast<int64_t>(bounds.max[axis]) - bounds.min[axis]));
  }
  packing.batchBits = bitsFor(static_cast<uint64_t>(bounds.maxBatch));
  return packing;
}

__global__ void packKeys(const Coordinate *coordinates, long long n, KeyPacking p, unsigned long long *keys) {
  long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= n)
    return;
  Coordinate c = coordinates[i];
  unsigned long long key = static_cast<unsigned long long>(c.batch);
  key = (key << p.bits[0]) | static_cast<uint32_t>(c.x - p.min[0]);
  key = (key << p.bits[1]) | static_cast<uint32_t>(c.y - p.min[1]);
  key = (key << p.bits[2]) | static_cast<uint32_t>(c.z - p.min[2]);
  keys[i] = key;
}

__global__ void unpackKeys(const unsigned long long *keys, int n, KeyPacking p, Coordinate *coordinates) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  unsigned long long key = keys[i];
  auto field = [&](int bits) {
    uint32_t value = bits == 0 ? 0u : static_cast<uint32_t>(key & ((1ull << bits) - 1));
    key = bits == 64 ? 0 : key >> bits;
    return value;
  };
  int32_t z = static_cast<int32_t>(field(p.bits[2]) + p.min[2]);
  int32_t y = static_cast<int32_t>(field(p.bits[1]) + p.min[1]);
  int32_t x = static_cast<int32_t>(field(p.bits[0]) + p.min[0]);
  coordinates[i] = {static_cast<int32_t>(key), x, y, z};
}


// The sorted unique coordinates of `candidates`, which lie in `bounds`.
std::shared_ptr<const SparseCoordinates> sortedUnique(DeviceBuffer &candidates, long long count,
                                                     const CoordinateBounds &bounds, cudaStream_t stream) {
  CUstream driver = gpu::driverStream(stream);
  if (count == 0)
    return SparseCoordinates::adopt(DeviceBuffer(), 0, bounds);
  if (count > INT32_MAX)
    throw RuntimeError(fmt::format("{} candidate output coordinates exceed the 2^31 - 1 rows a map can index", count));
  const int n = static_cast<int>(count);
  DeviceBuffer selectedCount(sizeof(int), driver);
  KeyPacking packing = packingFor(bounds);
  if (packing.totalBits() <= 64) {
    DeviceBuffer keys(static_cast<size_t>(n) * 8, driver), sorted(static_cast<size_t>(n) * 8, driver);
    packKeys<<<blocksFor(n), kThreads, 0, stream>>>(as<Coordinate>(candidates), n, packing,
                                                    as<unsigned long long>(keys));
    gpu::checkLaunch("packKeys");
    gpu::withScratch(stream, "cub::DeviceRadixSort::SortKeys (packed output coordinates)",
                     [&](void *scratch, size_t &bytes) {
                       return cub::DeviceRadixSort::SortKeys(scratch, bytes, as<unsigned long long>(keys),
                                                             as<unsigned long long>(sorted), n, 0,
                                                             std::max(1, packing.totalBits()), stream);
                     });
    gpu::withScratch(stream, "cub::DeviceSelect::Unique (packed output coordinates)",
                     [&](void *scratch, size_t &bytes) {
                       return cub::DeviceSelect::Unique(scratch, bytes, as<unsigned long long>(sorted),
                                                        as<unsigned long long>(keys), as<int>(selectedCount), n,
                                                        stream);
                     });
    const int unique = selectedCount.download<int>()[0];
    DeviceBuffer coordinates(static_cast<size_t>(unique) * sizeof(Coordinate), driver);
    unpackKeys<<<blocksFor(unique), kThreads, 0, stream>>>(as<unsigned long long>(keys), unique, packing,
                                                           as<Coordinate>(coordinates));
    gpu::checkLaunch("unpackKeys");
    return SparseCoordinates::adopt(std::move(coordinates), unique, bounds);
  }
  DeviceBuffer sorted(candidates.bytes(), driver);
  gpu::withScratch(stream, "cub::DeviceRadixSort::SortKeys (output coordinates)", [&](void *scratch, size_t &bytes) {
    return cub::DeviceRadixSort::SortKeys(scratch, bytes, as<Coordinate>(candidates), as<Coordinate>(sorted), n,
                                          gpu::CoordinateDecomposer{}, stream);
  });
  gpu::withScratch(stream, "cub::DeviceSelect::Unique (output coordinates)", [&](void *scratch, size_t &bytes) {
    return cub::DeviceSelect::Unique(scratch, bytes, as<Coordinate>(sorted), as<Coordinate>(candidates),
                                     as<int>(selectedCount), n, stream);
  });
  const int unique = selectedCount.download<int>()[0];
  DeviceBuffer compact(static_cast<size_t>(unique) * sizeof(Coordinate), driver);
  checkCuda(cuMemcpyDtoDAsync(compact.get(), candidates.get(), compact.bytes(), driver), "cuMemcpyDtoDAsync",
            "compacting output coordinates");
  return SparseCoordinates::adopt(std::move(compact), unique, bounds);
}

CoordinateBounds downsampledBounds(const CoordinateBounds &bounds, const ConvGeometry &geometry) {
  CoordinateBounds result = bounds;
  for (int axis = 0; axis < 3; ++axis) {
    result.min[axis] = floorDivide(bounds.min[axis], geometry.stride[axis]);
    result.max[axis] = floorDivide(bounds.max[axis], geometry.stride[axis]);
  }
  return result;
}

CoordinateBounds expandedBounds(const CoordinateBounds &bounds, const ConvGeometry &geometry) {
  CoordinateBounds result = bounds;
  auto offsets = kernelOffsets(geometry);
  for (int axis = 0; axis < 3; ++axis) {
    int low = offsets.front()[axis], high = low;
    for (const auto &o : offsets) {
      low = std::min(low, o[axis]);
      high = std::max(high, o[axis]);
    }
    result.min[axis] = bounds.min[axis] * geometry.stride[axis] + low;
    result.max[axis] = bounds.max[axis] * geometry.stride[axis] + high;
  }
  return result;
}

__global__ void invertMap(const int32_t *outInMap, long long outputCount, int volume, int32_t *inverse) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= outputCount * volume)
    return;
  int32_t i = outInMap[t];
  if (i >= 0) {
    long long j = t / volume;
    inverse[static_cast<long long>(i) * volume + (t - j * volume)] = static_cast<int32_t>(j);
  }
}

} // namespace

void gpu::invertOutInMap(const int32_t *outInMap, long long outputCount, int volume, int32_t *inverse,
                         cudaStream_t stream) {
  if (outputCount * volume == 0)
    return;
  invertMap<<<blocksFor(outputCount * volume), kThreads, 0, stream>>>(outInMap, outputCount, volume, inverse);
  gpu::checkLaunch("invertMap");
}

DeviceKernelMap buildKernelMapGpu(const std::shared_ptr<const SparseCoordinates> &inputs,
                                  const ConvGeometry &geometry, CUstream driverStream) {
  kernelOffsets(geometry); // validates the geometry
  auto stream = gpu::runtimeStream(driverStream);
  DeviceKernelMap map;
  map.kind = MapKind::Forward;
  map.geometry = geometry;
  map.inputs = inputs;
  map.volume = geometry.volume();
  const int n = inputs->size();
  if (geometry.strided()) {
    DeviceBuffer candidates(static_cast<size_t>(n) * sizeof(Coordinate), driverStream);
    if (n > 0) {
      downsampledCandidates<<<blocksFor(n), kThreads, 0, stream>>>(reinterpret_cast<const Coordinate *>(inputs->data()),
                                                                   n, geometry.shape(), as<Coordinate>(candidates));
      gpu::checkLaunch("downsampledCandidates");
    }
    map.outputs = sortedUnique(candidates, n, downsampledBounds(inputs->bounds(), geometry), stream);
  } else {
    map.outputs = inputs;
  }
  const long long entries = static_cast<long long>(map.outputCount()) * map.volume;
  map.outInMap = DeviceBuffer(static_cast<size_t>(entries) * sizeof(int32_t), driverStream);
  if (entries > 0) {
    lookupNeighbours<<<blocksFor(entries), kThreads, 0, stream>>>(
        hashViewOf(*inputs, stream), reinterpret_cast<const Coordinate *>(map.outputs->data()), map.outputCount(),
        geometry.shape(), map.volume, as<int32_t>(map.outInMap));
    gpu::checkLaunch("lookupNeighbours");
  }
  return map;
}

DeviceKernelMap transposedKernelMapGpu(const DeviceKernelMap &strided, CUstream driverStream) {
  // Each (input, offset) of a forward or generative map reaches at most one output, so the map
  // inverts; a transposed map's transpose is the map it mirrors.
  if (strided.kind == MapKind::Transposed)
    throw RuntimeError("a transposed map mirrors a forward (strided or submanifold) or generative map, not a "
                       "transposed one");
  auto stream = gpu::runtimeStream(driverStream);
  DeviceKernelMap map;
  map.kind = MapKind::Transposed;
  map.geometry = strided.geometry;
  map.inputs = strided.outputs;
  map.outputs = strided.inputs;
  map.volume = strided.volume;
  const long long entries = static_cast<long long>(map.outputCount()) * map.volume;
  map.outInMap = DeviceBuffer(static_cast<size_t>(entries) * sizeof(int32_t), driverStream);
  map.outInMap.fill32(0xffffffffu, driverStream);
  gpu::invertOutInMap(reinterpret_cast<const int32_t *>(strided.outInMap.get()), strided.outputCount(),
                      strided.volume, as<int32_t>(map.outInMap), stream);
  return map;
}

DeviceKernelMap generativeTransposedKernelMapGpu(const std::shared_ptr<const SparseCoordinates> &inputs,
                                                 const ConvGeometry &geometry, CUstream driverStream) {
  kernelOffsets(geometry); // validates the geometry
  auto stream = gpu::runtimeStream(driverStream);
  DeviceKernelMap map;
  map.kind = MapKind::GenerativeTransposed;
  map.geometry = geometry;
  map.inputs = inputs;
  map.volume = geometry.volume();
  const long long expanded = static_cast<long long>(inputs->size()) * map.volume;
  DeviceBuffer candidates(static_cast<size_t>(expanded) * sizeof(Coordinate), driverStream);
  if (expanded > 0) {
    expandedCandidates<<<blocksFor(expanded), kThreads, 0, stream>>>(
        reinterpret_cast<const Coordinate *>(inputs->data()), inputs->size(), geometry.shape(), map.volume,
        as<Coordinate>(candidates));
    gpu::checkLaunch("expandedCandidates");
  }
  map.outputs = sortedUnique(candidates, expanded, expandedBounds(inputs->bounds(), geometry), stream);
  const long long entries = static_cast<long long>(map.outputCount()) * map.volume;
  map.outInMap = DeviceBuffer(static_cast<size_t>(entries) * sizeof(int32_t), driverStream);
  map.outInMap.fill32(0xffffffffu, driverStream);
  if (expanded > 0) {
    scatterGenerative<<<blocksFor(expanded), kThreads, 0, stream>>>(
        hashViewOf(*map.outputs, stream), reinterpret_cast<const Coordinate *>(inputs->data()), inputs->size(),
        geometry.shape(), map.volume, as<int32_t>(map.outInMap));
    gpu::checkLaunch("scatterGenerative");
  }
  return map;
}

} // namespace sparsekgen
