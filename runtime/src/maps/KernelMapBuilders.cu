#include "sparsekgen/GpuKernelMaps.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>

#include "maps/CoordinateHashing.cuh"
#include "maps/CountedKernelMaps.h"

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

// out_in_map[j][k] = row of outputs[j] * stride + offset(k) among the inputs, or -1; -1 on rows
// from `*outputsInUse` (device, nullable: none) on. The pairs found are added to `*pairs` (device,
// nullable), one atomic per warp, so that no second pass over the map has to count them.
__global__ void lookupNeighbours(gpu::HashView inputs, const Coordinate *outputs, long long outputCount,
                                 const long long *outputsInUse, KernelShape shape, int volume, int32_t *outInMap,
                                 unsigned long long *pairs) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  int32_t found = -1;
  if (t < outputCount * volume) { // no early return: the whole warp votes below
    long long j = t / volume;
    if (!outputsInUse || j < *outputsInUse)
      found = inputs.find(shifted(outputs[j], shape, static_cast<int>(t - j * volume)));
    outInMap[t] = found;
  }
  if (pairs) {
    const unsigned hits = __ballot_sync(0xffffffffu, found >= 0);
    if ((threadIdx.x & 31) == 0 && hits)
      atomicAdd(pairs, static_cast<unsigned long long>(__popc(hits)));
  }
}

// Rows from `*inputsInUse` (device, nullable: none) on are padding: they repeat row 0's candidate,
// which the unique pass then merges away. A level derived from a nonempty one is nonempty, so row 0
// is always a real row where there is padding.
__global__ void downsampledCandidates(const Coordinate *inputs, int n, const long long *inputsInUse,
                                      KernelShape shape, Coordinate *candidates) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  Coordinate c = inputs[inputsInUse && i >= *inputsInUse ? 0 : i];
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


// Sorts the `n` candidates (which lie in `bounds`) and writes the unique ones, in (batch, x, y, z)
// order, to the first rows of the returned buffer (n rows long); their number goes to `*uniqueCount`
// (device). Nothing is read back. `candidates` is used as scratch.
DeviceBuffer sortUnique(DeviceBuffer &candidates, int n, const CoordinateBounds &bounds, long long *uniqueCount,
                        cudaStream_t stream) {
  CUstream driver = gpu::driverStream(stream);
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
                                                        as<unsigned long long>(keys), uniqueCount, n, stream);
                     });
    // Past the unique keys lie stale ones; they unpack to padding rows.
    DeviceBuffer coordinates(static_cast<size_t>(n) * sizeof(Coordinate), driver);
    unpackKeys<<<blocksFor(n), kThreads, 0, stream>>>(as<unsigned long long>(keys), n, packing,
                                                      as<Coordinate>(coordinates));
    gpu::checkLaunch("unpackKeys");
    return coordinates;
  }
  DeviceBuffer sorted(candidates.bytes(), driver);
  gpu::withScratch(stream, "cub::DeviceRadixSort::SortKeys (output coordinates)", [&](void *scratch, size_t &bytes) {
    return cub::DeviceRadixSort::SortKeys(scratch, bytes, as<Coordinate>(candidates), as<Coordinate>(sorted), n,
                                          gpu::CoordinateDecomposer{}, stream);
  });
  gpu::withScratch(stream, "cub::DeviceSelect::Unique (output coordinates)", [&](void *scratch, size_t &bytes) {
    return cub::DeviceSelect::Unique(scratch, bytes, as<Coordinate>(sorted), as<Coordinate>(candidates), uniqueCount,
                                     n, stream);
  });
  return std::move(candidates);
}

// The sorted unique coordinates of `candidates`, which lie in `bounds` (one read-back: the count).
std::shared_ptr<const SparseCoordinates> sortedUnique(DeviceBuffer &candidates, long long count,
                                                     const CoordinateBounds &bounds, cudaStream_t stream) {
  CUstream driver = gpu::driverStream(stream);
  if (count == 0)
    return SparseCoordinates::adopt(DeviceBuffer(), 0, bounds);
  if (count > INT32_MAX)
    throw RuntimeError(fmt::format("{} candidate output coordinates exceed the 2^31 - 1 rows a map can index", count));
  DeviceBuffer uniqueCount(sizeof(long long), driver);
  DeviceBuffer rows = sortUnique(candidates, static_cast<int>(count), bounds, as<long long>(uniqueCount), stream);
  const int unique = static_cast<int>(uniqueCount.download<long long>()[0]);
  DeviceBuffer compact(static_cast<size_t>(unique) * sizeof(Coordinate), driver);
  checkCuda(cuMemcpyDtoDAsync(compact.get(), rows.get(), compact.bytes(), driver), "cuMemcpyDtoDAsync",
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

std::vector<int32_t> DeviceKernelMap::downloadOutInMap() const {
  std::vector<int32_t> entries(static_cast<size_t>(outputCount()) * volume);
  if (!entries.empty())
    outInMap.downloadTo(entries.data(), entries.size() * sizeof(int32_t));
  return entries;
}

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
                                                                   n, nullptr, geometry.shape(),
                                                                   as<Coordinate>(candidates));
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
        nullptr, geometry.shape(), map.volume, as<int32_t>(map.outInMap), nullptr);
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

namespace {

gpu::HashView hashViewOf(const CountedLevel &level) {
  return {reinterpret_cast<unsigned long long *>(level.tableSlots), level.tableCapacity - 1,
          reinterpret_cast<const Coordinate *>(level.rows)};
}

void writeCount(long long *count, long long value, CUstream stream) {
  // Two 32-bit halves, little-endian: no host memory has to outlive the call.
  auto words = reinterpret_cast<CUdeviceptr>(count);
  checkCuda(cuMemsetD32Async(words, static_cast<uint32_t>(value), 1, stream), "cuMemsetD32Async", "(level row count)");
  checkCuda(cuMemsetD32Async(words + 4, static_cast<uint32_t>(value >> 32), 1, stream), "cuMemsetD32Async",
            "(level row count)");
}

// At most one row per cell of the box `bounds` describes.
long long cellsIn(const CoordinateBounds &bounds) {
  double cells = static_cast<double>(bounds.maxBatch) + 1;
  for (int axis = 0; axis < 3; ++axis)
    cells *= static_cast<double>(bounds.max[axis]) - bounds.min[axis] + 1;
  return cells > static_cast<double>(INT32_MAX) ? INT32_MAX : static_cast<long long>(cells);
}

} // namespace

CountedLevel countedLevelOf(const std::shared_ptr<const SparseCoordinates> &inputs, long long *count,
                            CUstream stream) {
  const CoordinateHashTable &table = inputs->hashTable(stream);
  CountedLevel level;
  level.rows = inputs->data();
  level.upperBound = inputs->size();
  level.count = count;
  level.bounds = inputs->bounds();
  level.tableSlots = table.slots.get();
  level.tableCapacity = table.capacity;
  writeCount(count, inputs->size(), stream);
  return level;
}

CountedLevel downsampledCountedLevel(const CountedLevel &inputs, const ConvGeometry &geometry, long long *count,
                                     CUstream driverStream) {
  kernelOffsets(geometry); // validates the geometry
  auto stream = gpu::runtimeStream(driverStream);
  CountedLevel level;
  level.count = count;
  level.bounds = downsampledBounds(inputs.bounds, geometry);
  const int n = inputs.upperBound;
  if (n == 0) {
    writeCount(count, 0, driverStream);
  } else {
    DeviceBuffer candidates(static_cast<size_t>(n) * sizeof(Coordinate), driverStream);
    downsampledCandidates<<<blocksFor(n), kThreads, 0, stream>>>(reinterpret_cast<const Coordinate *>(inputs.rows), n,
                                                                 inputs.count, geometry.shape(),
                                                                 as<Coordinate>(candidates));
    gpu::checkLaunch("downsampledCandidates");
    level.storage = sortUnique(candidates, n, level.bounds, count, stream);
  }
  level.rows = level.storage.get();
  level.upperBound = static_cast<int>(std::min<long long>(n, cellsIn(level.bounds)));
  level.table = gpu::buildCoordinateHashTable(reinterpret_cast<const Coordinate *>(level.rows), level.upperBound,
                                              count, nullptr, stream);
  level.tableSlots = level.table.slots.get();
  level.tableCapacity = level.table.capacity;
  return level;
}

DeviceBuffer countedOutInMap(const CountedLevel &inputs, const CountedLevel &outputs, const ConvGeometry &geometry,
                             unsigned long long *pairs, CUstream driverStream) {
  kernelOffsets(geometry); // validates the geometry
  const int volume = geometry.volume();
  const long long entries = static_cast<long long>(outputs.upperBound) * volume;
  DeviceBuffer outInMap(static_cast<size_t>(entries) * sizeof(int32_t), driverStream);
  if (entries > 0) {
    lookupNeighbours<<<blocksFor(entries), kThreads, 0, gpu::runtimeStream(driverStream)>>>(
        hashViewOf(inputs), reinterpret_cast<const Coordinate *>(outputs.rows), outputs.upperBound, outputs.count,
        geometry.shape(), volume, as<int32_t>(outInMap), pairs);
    gpu::checkLaunch("lookupNeighbours");
  }
  return outInMap;
}

DeviceBuffer countedTransposedOutInMap(const DeviceBuffer &stridedOutInMap, int stridedOutputsUpper,
                                       int stridedInputsUpper, int volume, CUstream driverStream) {
  DeviceBuffer outInMap(static_cast<size_t>(stridedInputsUpper) * volume * sizeof(int32_t), driverStream);
  outInMap.fill32(0xffffffffu, driverStream);
  // Padding rows of the strided map hold -1 only, so inverting the whole buffer is exact.
  gpu::invertOutInMap(as<int32_t>(stridedOutInMap), stridedOutputsUpper, volume, as<int32_t>(outInMap),
                      gpu::runtimeStream(driverStream));
  return outInMap;
}

} // namespace sparsekgen
