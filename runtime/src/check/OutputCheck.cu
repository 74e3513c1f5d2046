// Device-side count of rows holding non-finite values: the poisoned rows a kernel did not write.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include <fmt/format.h>

#include "sparsekgen/Conv.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

__device__ float valueAt(const void *tensor, size_t index, uint32_t dtype) {
  if (dtype == SKG_F32)
    return static_cast<const float *>(tensor)[index];
  if (dtype == SKG_BF16)
    return __bfloat162float(static_cast<const __nv_bfloat16 *>(tensor)[index]);
  return __half2float(static_cast<const __half *>(tensor)[index]);
}

__global__ void countNonFiniteRowsKernel(const void *tensor, int rows, int columns, uint32_t dtype,
                                         unsigned long long *count) {
  for (int row = blockIdx.x * blockDim.y + threadIdx.y; row < rows; row += gridDim.x * blockDim.y) {
    bool bad = false;
    for (int c = threadIdx.x; c < columns; c += blockDim.x) {
      float v = valueAt(tensor, static_cast<size_t>(row) * columns + c, dtype);
      bad |= !isfinite(v);
    }
    if (__any_sync(0xffffffffu, bad) && threadIdx.x == 0)
      atomicAdd(count, 1ull);
  }
}

void checkRuntime(cudaError_t error, const char *call) {
  if (error != cudaSuccess)
    throw CudaError(static_cast<int>(error),
                    fmt::format("{} failed with {}: {} (in countNonFiniteRows)", call, cudaGetErrorName(error),
                                cudaGetErrorString(error)));
}
} // namespace

long long countNonFiniteRows(CUdeviceptr tensor, int rows, int columns, uint32_t dtype, CUstream stream) {
  if (rows <= 0 || columns <= 0)
    return 0;
  unsigned long long *count = nullptr;
  checkRuntime(cudaMallocAsync(&count, sizeof(*count), stream), "cudaMallocAsync");
  checkRuntime(cudaMemsetAsync(count, 0, sizeof(*count), stream), "cudaMemsetAsync");
  dim3 block(32, 8);
  unsigned blocks = static_cast<unsigned>(std::min((rows + 7) / 8, 65535));
  countNonFiniteRowsKernel<<<blocks, block, 0, stream>>>(reinterpret_cast<const void *>(tensor), rows, columns,
                                                         dtype, count);
  checkRuntime(cudaGetLastError(), "launch of countNonFiniteRowsKernel");
  unsigned long long host = 0;
  checkRuntime(cudaMemcpyAsync(&host, count, sizeof(host), cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
  checkRuntime(cudaFreeAsync(count, stream), "cudaFreeAsync");
  checkRuntime(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  return static_cast<long long>(host);
}

} // namespace sparsekgen
