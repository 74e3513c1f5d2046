#include "maps/CoordinateRuns.cuh"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_run_length_encode.cuh>
#include <cub/device/device_scan.cuh>

namespace sparsekgen::gpu {

CoordinateRuns groupByCoordinate(const Coordinate *keys, const int32_t *rowIds, int rows, cudaStream_t stream,
                                 const char *what) {
  const CUstream driver = driverStream(stream);
  CoordinateRuns result;
  DeviceBuffer sortedKeys(static_cast<size_t>(rows) * sizeof(Coordinate), driver);
  result.sortedRows = DeviceBuffer(static_cast<size_t>(rows) * sizeof(int32_t), driver);
  std::string sort = fmt::format("cub::DeviceRadixSort::SortPairs ({})", what);
  withScratch(stream, sort.c_str(), [&](void *scratch, size_t &bytes) {
    return cub::DeviceRadixSort::SortPairs(scratch, bytes, keys, as<Coordinate>(sortedKeys), rowIds,
                                           as<int32_t>(result.sortedRows), rows, CoordinateDecomposer{}, stream);
  });
  DeviceBuffer unique(static_cast<size_t>(rows) * sizeof(Coordinate), driver), runCount(sizeof(int), driver);
  result.lengths = DeviceBuffer(static_cast<size_t>(rows) * sizeof(int), driver);
  std::string encode = fmt::format("cub::DeviceRunLengthEncode::Encode ({})", what);
  withScratch(stream, encode.c_str(), [&](void *scratch, size_t &bytes) {
    return cub::DeviceRunLengthEncode::Encode(scratch, bytes, as<Coordinate>(sortedKeys), as<Coordinate>(unique),
                                              as<int>(result.lengths), as<int>(runCount), rows, stream);
  });
  result.runs = runCount.download<int>()[0];
  result.starts = DeviceBuffer(static_cast<size_t>(result.runs) * sizeof(int), driver);
  std::string scan = fmt::format("cub::DeviceScan::ExclusiveSum ({})", what);
  withScratch(stream, scan.c_str(), [&](void *scratch, size_t &bytes) {
    return cub::DeviceScan::ExclusiveSum(scratch, bytes, as<int>(result.lengths), as<int>(result.starts),
                                         result.runs, stream);
  });
  result.unique = DeviceBuffer(static_cast<size_t>(result.runs) * sizeof(Coordinate), driver);
  checkCuda(cuMemcpyDtoDAsync(result.unique.get(), unique.get(), result.unique.bytes(), driver), "cuMemcpyDtoDAsync",
            fmt::format("compacting the unique {}", what));
  return result;
}

} // namespace sparsekgen::gpu
