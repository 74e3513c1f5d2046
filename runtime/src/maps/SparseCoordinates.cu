#include "sparsekgen/SparseCoordinates.h"

#include <climits>


#include "maps/CoordinateHashing.cuh"
#include "maps/CoordinateRuns.cuh"

namespace sparsekgen {

namespace {

using gpu::blocksFor;
using gpu::as;
using gpu::kThreads;

std::atomic<uint64_t> nextId{1};

// summary = {first row out of range, max batch, min x, min y, min z, max x, max y, max z}. Each warp
// reduces its rows first: one atomic per warp and slot instead of one per row, which every row would
// otherwise aim at the same eight addresses.
__global__ void summarizeCoordinates(const Coordinate *rows, int n, int *summary) {
  int row = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned active = __ballot_sync(0xffffffffu, row < n);
  if (row >= n)
    return;
  Coordinate c = rows[row];
  constexpr int limit = 1 << 30;
  bool inside = c.batch >= 0 && c.x >= -limit && c.x < limit && c.y >= -limit && c.y < limit && c.z >= -limit &&
                c.z < limit;
  const int values[8] = {inside ? INT_MAX : row, c.batch, c.x, c.y, c.z, c.x, c.y, c.z};
  const bool isMax[8] = {false, true, false, false, false, true, true, true};
  const bool leader = (threadIdx.x & 31) == __ffs(active) - 1;
  for (int slot = 0; slot < 8; ++slot) {
    int reduced = isMax[slot] ? __reduce_max_sync(active, values[slot]) : __reduce_min_sync(active, values[slot]);
    if (leader)
      isMax[slot] ? atomicMax(&summary[slot], reduced) : atomicMin(&summary[slot], reduced);
  }
}

__global__ void insertRows(gpu::HashView table, int upperRows, const long long *count, int *duplicateFound) {
  int row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= upperRows || (count && row >= *count))
    return;
  if (table.insert(row) >= 0 && duplicateFound)
    *duplicateFound = 1;
}

CoordinateBounds boundsOf(const std::vector<Coordinate> &coordinates) {
  CoordinateBounds bounds;
  if (coordinates.empty())
    return bounds;
  const Coordinate &first = coordinates.front();
  bounds = {first.batch, {first.x, first.y, first.z}, {first.x, first.y, first.z}};
  for (const Coordinate &c : coordinates) {
    bounds.maxBatch = std::max(bounds.maxBatch, c.batch);
    const int32_t values[3] = {c.x, c.y, c.z};
    for (int axis = 0; axis < 3; ++axis) {
      bounds.min[axis] = std::min(bounds.min[axis], values[axis]);
      bounds.max[axis] = std::max(bounds.max[axis], values[axis]);
    }
  }
  return bounds;
}

// The range summary's slots, then a duplicate flag that fromDevice's table insertion sets: both
// come back in the one read-back.
constexpr int kDuplicateSlot = 8;

DeviceBuffer enqueueRangeSummary(CUdeviceptr coordinates, int rows, cudaStream_t stream) {
  std::vector<int> initial = {INT_MAX, INT_MIN, INT_MAX, INT_MAX, INT_MAX, INT_MIN, INT_MIN, INT_MIN, 0};
  DeviceBuffer summary = DeviceBuffer::from(initial, gpu::driverStream(stream));
  summarizeCoordinates<<<blocksFor(rows), kThreads, 0, stream>>>(reinterpret_cast<const Coordinate *>(coordinates),
                                                                 rows, reinterpret_cast<int *>(summary.get()));
  gpu::checkLaunch("summarizeCoordinates");
  return summary;
}

// The bounds from a downloaded summary; RuntimeError naming the first row out of range.
CoordinateBounds boundsFromSummary(const std::vector<int> &s, CUdeviceptr coordinates, int rows) {
  if (s[0] != INT_MAX) {
    std::vector<Coordinate> all(static_cast<size_t>(rows));
    gpu::check(cudaMemcpy(all.data(), reinterpret_cast<const void *>(coordinates), all.size() * sizeof(Coordinate),
                          cudaMemcpyDeviceToHost),
               "cudaMemcpy of coordinates to name the row out of range");
    requireCoordinatesInRange(all); // throws naming the row and its values
  }
  return {s[1], {s[2], s[3], s[4]}, {s[5], s[6], s[7]}};
}

// Checks ranges and measures the bounds on the device (one synchronisation); on failure the host
// names the row from a download.
CoordinateBounds requireInRange(CUdeviceptr coordinates, int rows, cudaStream_t stream) {
  if (rows == 0)
    return {};
  return boundsFromSummary(enqueueRangeSummary(coordinates, rows, stream).download<int>(), coordinates, rows);
}

} // namespace

CoordinateHashTable gpu::buildCoordinateHashTable(const Coordinate *rows, int upperRows, const long long *count,
                                                  int *duplicateFound, cudaStream_t stream) {
  const CUstream driver = gpu::driverStream(stream);
  CoordinateHashTable table;
  uint32_t capacity = 64;
  while (capacity < 2u * static_cast<uint32_t>(upperRows))
    capacity <<= 1;
  table.capacity = capacity;
  table.slots = DeviceBuffer(static_cast<size_t>(capacity) * sizeof(uint64_t), driver);
  checkCuda(cuMemsetD32Async(table.slots.get(), 0xffffffffu, 2ull * capacity, driver), "cuMemsetD32Async",
            "clearing the coordinate hash table");
  if (upperRows == 0)
    return table;
  gpu::HashView view{reinterpret_cast<unsigned long long *>(table.slots.get()), capacity - 1, rows};
  insertRows<<<blocksFor(upperRows), kThreads, 0, stream>>>(view, upperRows, count, duplicateFound);
  gpu::checkLaunch("insertRows");
  return table;
}

SparseCoordinates::SparseCoordinates(DeviceBuffer coordinates, int rows, const CoordinateBounds &bounds,
                                     bool knownUnique)
    : coordinates_(std::move(coordinates)), rows_(rows), id_(nextId++), bounds_(bounds), knownUnique_(knownUnique) {}

std::shared_ptr<const SparseCoordinates> SparseCoordinates::adoptHashed(DeviceBuffer coordinates, int rows,
                                                                        const CoordinateBounds &bounds,
                                                                        CoordinateHashTable table) {
  std::shared_ptr<SparseCoordinates> result(
      new SparseCoordinates(std::move(coordinates), rows, bounds, /*knownUnique=*/true));
  std::call_once(result->tableOnce_, [&] { result->table_ = std::move(table); });
  return result;
}

std::shared_ptr<const SparseCoordinates> SparseCoordinates::adopt(DeviceBuffer coordinates, int rows,
                                                                  const CoordinateBounds &bounds) {
  return std::shared_ptr<const SparseCoordinates>(
      new SparseCoordinates(std::move(coordinates), rows, bounds, /*knownUnique=*/true));
}

std::shared_ptr<const SparseCoordinates> SparseCoordinates::fromHost(const std::vector<Coordinate> &coordinates,
                                                                     CUstream stream) {
  requireCoordinatesInRange(coordinates);
  std::shared_ptr<const SparseCoordinates> result(
      new SparseCoordinates(DeviceBuffer::from(coordinates, stream), static_cast<int>(coordinates.size()),
                            boundsOf(coordinates), /*knownUnique=*/false));
  result->hashTable(stream); // finds duplicates
  return result;
}

std::shared_ptr<const SparseCoordinates> SparseCoordinates::fromDevice(CUdeviceptr coordinates, int rows,
                                                                       CUstream stream) {
  if (rows < 0)
    throw RuntimeError(fmt::format("negative coordinate count {}", rows));
  DeviceBuffer copy(static_cast<size_t>(rows) * sizeof(Coordinate), stream);
  if (rows > 0)
    checkCuda(cuMemcpyDtoDAsync(copy.get(), coordinates, copy.bytes(), stream), "cuMemcpyDtoDAsync",
              "copying coordinates");
  if (rows == 0)
    return adopt(std::move(copy), 0, CoordinateBounds{});
  // The range check and the table's duplicate check share one read-back: the table is built over
  // the rows whatever they hold, and discarded if they fail.
  auto cudaStream = gpu::runtimeStream(stream);
  DeviceBuffer summary = enqueueRangeSummary(copy.get(), rows, cudaStream);
  CoordinateHashTable table =
      gpu::buildCoordinateHashTable(reinterpret_cast<const Coordinate *>(copy.get()), rows, nullptr,
                                    reinterpret_cast<int *>(summary.get()) + kDuplicateSlot, cudaStream);
  const std::vector<int> checked = summary.download<int>();
  CoordinateBounds bounds = boundsFromSummary(checked, copy.get(), rows);
  if (checked[kDuplicateSlot] != 0)
    requireUniqueCoordinates(copy.download<Coordinate>()); // throws naming the rows
  return adoptHashed(std::move(copy), rows, bounds, std::move(table));
}

std::vector<Coordinate> SparseCoordinates::download() const {
  std::vector<Coordinate> rows(static_cast<size_t>(rows_));
  if (rows_ > 0)
    coordinates_.downloadTo(rows.data(), rows.size() * sizeof(Coordinate));
  return rows;
}

const CoordinateHashTable &SparseCoordinates::hashTable(CUstream stream) const {
  std::call_once(tableOnce_, [&] {
    const auto *rows = reinterpret_cast<const Coordinate *>(coordinates_.get());
    auto cudaStream = gpu::runtimeStream(stream);
    if (knownUnique_) {
      table_ = gpu::buildCoordinateHashTable(rows, rows_, nullptr, nullptr, cudaStream);
      return;
    }
    DeviceBuffer duplicate(sizeof(int), stream);
    duplicate.fill32(0, stream);
    table_ = gpu::buildCoordinateHashTable(rows, rows_, nullptr, reinterpret_cast<int *>(duplicate.get()), cudaStream);
    if (duplicate.download<int>()[0] != 0)
      requireUniqueCoordinates(download()); // throws naming the rows
  });
  return table_;
}

namespace {

__global__ void scatterRowToUnique(const int *sortedRows, const int *runStarts, const int *runLengths, int runs,
                                   int *rowToUnique) {
  int run = blockIdx.x * blockDim.x + threadIdx.x;
  if (run >= runs)
    return;
  for (int r = runStarts[run], end = r + runLengths[run]; r < end; ++r)
    rowToUnique[sortedRows[r]] = run;
}

__global__ void iota(int *values, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    values[i] = i;
}

} // namespace

DeduplicatedCoordinates deduplicateCoordinates(CUdeviceptr coordinates, int rows, CUstream driverStream) {
  auto stream = gpu::runtimeStream(driverStream);
  CoordinateBounds bounds = requireInRange(coordinates, rows, stream);
  DeduplicatedCoordinates result;
  result.rowToUnique = DeviceBuffer(static_cast<size_t>(rows) * sizeof(int), driverStream);
  if (rows == 0) {
    result.unique = SparseCoordinates::adopt(DeviceBuffer(), 0, bounds);
    return result;
  }
  DeviceBuffer rowIds(static_cast<size_t>(rows) * sizeof(int), driverStream);
  iota<<<blocksFor(rows), kThreads, 0, stream>>>(as<int>(rowIds), rows);
  gpu::checkLaunch("iota");
  auto grouped = gpu::groupByCoordinate(reinterpret_cast<const Coordinate *>(coordinates), as<int32_t>(rowIds), rows,
                                        stream, "coordinates");
  scatterRowToUnique<<<blocksFor(grouped.runs), kThreads, 0, stream>>>(
      as<int>(grouped.sortedRows), as<int>(grouped.starts), as<int>(grouped.lengths), grouped.runs,
      as<int>(result.rowToUnique));
  gpu::checkLaunch("scatterRowToUnique");
  result.unique = SparseCoordinates::adopt(std::move(grouped.unique), grouped.runs, bounds);
  return result;
}

} // namespace sparsekgen
