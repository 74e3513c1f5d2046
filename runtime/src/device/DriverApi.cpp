// The CUDA driver functions the runtime calls, loaded from libcuda.so.1 with dlopen on first use
// instead of linked: programs built on the runtime (the tuner, the benchmarks, an application)
// then start on machines without a driver, so --help and --version work there and the first call
// fails with a CudaError saying the driver could not be loaded (tools exit 3, "no usable GPU").
//
// Each definition below has the exact prototype cuda.h declares (the compiler refuses any other)
// under the name cuda.h maps it to (cuMemcpyDtoH is cuMemcpyDtoH_v2), and forwards to the driver's
// function of that name.
#include <dlfcn.h>

#include <mutex>
#include <string>

#include <cuda.h>

namespace {

std::once_flag loadOnce;
void *driver = nullptr;
std::string loadError;

void *driverSymbol(const char *name) {
  std::call_once(loadOnce, [] {
    driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!driver) {
      const char *why = dlerror();
      loadError = std::string("the CUDA driver (libcuda.so.1) could not be loaded: ") + (why ? why : "unknown reason");
    }
  });
  return driver ? dlsym(driver, name) : nullptr;
}

// Without a driver every call fails as the driver's own stub library does.
constexpr CUresult kNoDriver = CUDA_ERROR_STUB_LIBRARY;

} // namespace

#define SKG_STRINGIFY_(name) #name
#define SKG_STRINGIFY(name) SKG_STRINGIFY_(name)
#define SKG_DRIVER_FUNCTION(name, parameters, arguments)                                                       \
  extern "C" CUresult CUDAAPI name parameters {                                                                \
    static auto *const target = reinterpret_cast<decltype(&name)>(driverSymbol(SKG_STRINGIFY(name)));         \
    return target ? target arguments : kNoDriver;                                                              \
  }

SKG_DRIVER_FUNCTION(cuInit, (unsigned int Flags), (Flags))
SKG_DRIVER_FUNCTION(cuDriverGetVersion, (int *driverVersion), (driverVersion))
SKG_DRIVER_FUNCTION(cuDeviceGet, (CUdevice *device, int ordinal), (device, ordinal))
SKG_DRIVER_FUNCTION(cuDeviceGetCount, (int *count), (count))
SKG_DRIVER_FUNCTION(cuDeviceGetName, (char *name, int len, CUdevice dev), (name, len, dev))
SKG_DRIVER_FUNCTION(cuDeviceGetAttribute, (int *pi, CUdevice_attribute attrib, CUdevice dev), (pi, attrib, dev))
SKG_DRIVER_FUNCTION(cuDeviceGetDefaultMemPool, (CUmemoryPool *pool_out, CUdevice dev), (pool_out, dev))
SKG_DRIVER_FUNCTION(cuDevicePrimaryCtxRetain, (CUcontext *pctx, CUdevice dev), (pctx, dev))
SKG_DRIVER_FUNCTION(cuDevicePrimaryCtxRelease, (CUdevice dev), (dev))
SKG_DRIVER_FUNCTION(cuCtxSetCurrent, (CUcontext ctx), (ctx))
SKG_DRIVER_FUNCTION(cuCtxSynchronize, (void), ())
SKG_DRIVER_FUNCTION(cuModuleLoadData, (CUmodule *module, const void *image), (module, image))
SKG_DRIVER_FUNCTION(cuModuleUnload, (CUmodule hmod), (hmod))
SKG_DRIVER_FUNCTION(cuModuleGetFunction, (CUfunction *hfunc, CUmodule hmod, const char *name), (hfunc, hmod, name))
SKG_DRIVER_FUNCTION(cuFuncSetAttribute, (CUfunction hfunc, CUfunction_attribute attrib, int value),
                    (hfunc, attrib, value))
SKG_DRIVER_FUNCTION(cuLaunchKernel,
                    (CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                     unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                     unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra),
                    (f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream,
                     kernelParams, extra))
SKG_DRIVER_FUNCTION(cuStreamCreate, (CUstream *phStream, unsigned int Flags), (phStream, Flags))
SKG_DRIVER_FUNCTION(cuStreamDestroy, (CUstream hStream), (hStream))
SKG_DRIVER_FUNCTION(cuStreamSynchronize, (CUstream hStream), (hStream))
SKG_DRIVER_FUNCTION(cuStreamWaitEvent, (CUstream hStream, CUevent hEvent, unsigned int Flags),
                    (hStream, hEvent, Flags))
SKG_DRIVER_FUNCTION(cuEventCreate, (CUevent *phEvent, unsigned int Flags), (phEvent, Flags))
SKG_DRIVER_FUNCTION(cuEventDestroy, (CUevent hEvent), (hEvent))
SKG_DRIVER_FUNCTION(cuEventSynchronize, (CUevent hEvent), (hEvent))
SKG_DRIVER_FUNCTION(cuEventRecord, (CUevent hEvent, CUstream hStream), (hEvent, hStream))
SKG_DRIVER_FUNCTION(cuEventElapsedTime, (float *pMilliseconds, CUevent hStart, CUevent hEnd),
                    (pMilliseconds, hStart, hEnd))
SKG_DRIVER_FUNCTION(cuMemAllocAsync, (CUdeviceptr *dptr, size_t bytesize, CUstream hStream), (dptr, bytesize, hStream))
SKG_DRIVER_FUNCTION(cuMemFreeAsync, (CUdeviceptr dptr, CUstream hStream), (dptr, hStream))
SKG_DRIVER_FUNCTION(cuMemPoolGetAttribute, (CUmemoryPool pool, CUmemPool_attribute attr, void *value),
                    (pool, attr, value))
SKG_DRIVER_FUNCTION(cuMemPoolSetAttribute, (CUmemoryPool pool, CUmemPool_attribute attr, void *value),
                    (pool, attr, value))
SKG_DRIVER_FUNCTION(cuMemcpyHtoD, (CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount),
                    (dstDevice, srcHost, ByteCount))
SKG_DRIVER_FUNCTION(cuTensorMapEncodeTiled,
                    (CUtensorMap * tensorMap, CUtensorMapDataType tensorDataType, cuuint32_t tensorRank,
                     void *globalAddress, const cuuint64_t *globalDim, const cuuint64_t *globalStrides,
                     const cuuint32_t *boxDim, const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
                     CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2Promotion, CUtensorMapFloatOOBfill oobFill),
                    (tensorMap, tensorDataType, tensorRank, globalAddress, globalDim, globalStrides, boxDim,
                     elementStrides, interleave, swizzle, l2Promotion, oobFill))
SKG_DRIVER_FUNCTION(cuMemcpyDtoH, (void *dstHost, CUdeviceptr srcDevice, size_t ByteCount),
                    (dstHost, srcDevice, ByteCount))
SKG_DRIVER_FUNCTION(cuMemcpyHtoDAsync, (CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, CUstream hStream),
                    (dstDevice, srcHost, ByteCount, hStream))
SKG_DRIVER_FUNCTION(cuMemcpyDtoHAsync, (void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream),
                    (dstHost, srcDevice, ByteCount, hStream))
SKG_DRIVER_FUNCTION(cuMemcpyDtoDAsync,
                    (CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream),
                    (dstDevice, srcDevice, ByteCount, hStream))
SKG_DRIVER_FUNCTION(cuMemcpy2DAsync, (const CUDA_MEMCPY2D *pCopy, CUstream hStream), (pCopy, hStream))
SKG_DRIVER_FUNCTION(cuMemsetD8Async, (CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream),
                    (dstDevice, uc, N, hStream))
SKG_DRIVER_FUNCTION(cuMemsetD32Async, (CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream),
                    (dstDevice, ui, N, hStream))

// Without a driver these two still answer, so checkCuda's message says why.
extern "C" CUresult CUDAAPI cuGetErrorName(CUresult error, const char **pStr) {
  static auto *const target = reinterpret_cast<decltype(&cuGetErrorName)>(driverSymbol("cuGetErrorName"));
  if (target)
    return target(error, pStr);
  *pStr = error == kNoDriver ? "CUDA_ERROR_STUB_LIBRARY" : nullptr;
  return error == kNoDriver ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

extern "C" CUresult CUDAAPI cuGetErrorString(CUresult error, const char **pStr) {
  static auto *const target = reinterpret_cast<decltype(&cuGetErrorString)>(driverSymbol("cuGetErrorString"));
  if (target)
    return target(error, pStr);
  *pStr = error == kNoDriver ? loadError.c_str() : nullptr;
  return error == kNoDriver ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
