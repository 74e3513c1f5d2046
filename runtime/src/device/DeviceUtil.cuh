// Shared by the runtime's CUDA sources: error checks that name the operation, launch sizing,
// stream-ordered scratch memory for CUB, and coordinate helpers.
#pragma once

#include <cstdint>
#include <string>

#include <cuda/std/tuple>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include "sparsekgen/Context.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/KernelMap.h"

namespace sparsekgen::gpu {

inline void check(cudaError_t error, const char *what) {
  if (error != cudaSuccess)
    throw CudaError(static_cast<int>(error),
                    fmt::format("{} failed with {}: {}", what, cudaGetErrorName(error), cudaGetErrorString(error)));
}

// Checks the launch of `kernel` (the name goes into the message).
inline void checkLaunch(const char *kernel) { check(cudaGetLastError(), kernel); }

constexpr int kThreads = 256;
inline unsigned blocksFor(long long work) {
  long long blocks = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > (1ll << 30) ? (1ll << 30) : blocks));
}

// A device buffer's memory as an array of T, for kernel arguments and CUB.
template <typename T>
T *as(DeviceBuffer &buffer) {
  return reinterpret_cast<T *>(buffer.get());
}
template <typename T>
const T *as(const DeviceBuffer &buffer) {
  return reinterpret_cast<const T *>(buffer.get());
}

// CUB's two-phase calls: ask for the scratch size, then run with stream-ordered scratch memory.
template <typename Call>
void withScratch(cudaStream_t stream, const char *what, Call call) {
  size_t bytes = 0;
  check(call(nullptr, bytes), what);
  DeviceBuffer scratch(bytes > 0 ? bytes : 1, reinterpret_cast<CUstream>(stream));
  check(call(reinterpret_cast<void *>(scratch.get()), bytes), what);
}

// Radix-sort key view of a coordinate: most significant field first.
struct CoordinateDecomposer {
  __host__ __device__ cuda::std::tuple<int32_t &, int32_t &, int32_t &, int32_t &> operator()(
      Coordinate &c) const {
    return {c.batch, c.x, c.y, c.z};
  }
};

__host__ __device__ inline bool sameCoordinate(const Coordinate &a, const Coordinate &b) {
  return a.batch == b.batch && a.x == b.x && a.y == b.y && a.z == b.z;
}

// inverse[i][k] = j wherever outInMap[j][k] = i; `inverse` must already hold -1 everywhere.
void invertOutInMap(const int32_t *outInMap, long long outputCount, int volume, int32_t *inverse,
                    cudaStream_t stream);

inline CUstream driverStream(cudaStream_t stream) { return reinterpret_cast<CUstream>(stream); }
inline cudaStream_t runtimeStream(CUstream stream) { return reinterpret_cast<cudaStream_t>(stream); }

} // namespace sparsekgen::gpu
