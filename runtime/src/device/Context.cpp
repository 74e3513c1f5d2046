#include "sparsekgen/Context.h"

#include <fmt/format.h>

#include "sparsekgen/Errors.h"

namespace sparsekgen {

int Context::deviceCount(std::string *why) {
  CUresult result = cuInit(0);
  int count = 0;
  if (result == CUDA_SUCCESS)
    result = cuDeviceGetCount(&count);
  if (result != CUDA_SUCCESS) {
    if (why) {
      const char *name = nullptr, *description = nullptr;
      cuGetErrorName(result, &name);
      cuGetErrorString(result, &description);
      *why = fmt::format("the CUDA driver reports {}{}{}", name ? name : "an unknown error", description ? ": " : "",
                         description ? description : "");
    }
    return 0;
  }
  if (count == 0 && why)
    *why = "the CUDA driver sees no device";
  return count;
}

Context::Context(int ordinal, const skg_bundle &bundle) : bundle_(bundle) {
  if (bundle.abi_version != SPARSEKGEN_BUNDLE_ABI_VERSION)
    throw RuntimeError(fmt::format("the linked kernel bundle has ABI version {}, this runtime reads version {}; "
                                   "rebuild the bundle with the matching sparsekgen",
                                   bundle.abi_version, SPARSEKGEN_BUNDLE_ABI_VERSION));
  checkCuda(cuInit(0), "cuInit");
  int count = 0;
  checkCuda(cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (ordinal < 0 || ordinal >= count)
    throw RuntimeError(fmt::format("CUDA device {} does not exist ({} device(s) present)", ordinal, count));
  checkCuda(cuDeviceGet(&handleDevice_, ordinal), "cuDeviceGet");
  checkCuda(cuDevicePrimaryCtxRetain(&context_, handleDevice_), "cuDevicePrimaryCtxRetain");
  checkCuda(cuCtxSetCurrent(context_), "cuCtxSetCurrent");

  device_.ordinal = ordinal;
  char name[256] = {};
  checkCuda(cuDeviceGetName(name, sizeof(name), handleDevice_), "cuDeviceGetName");
  device_.name = name;
  int major = 0, minor = 0;
  checkCuda(cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, handleDevice_),
            "cuDeviceGetAttribute");
  checkCuda(cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, handleDevice_),
            "cuDeviceGetAttribute");
  device_.sm = major * 10 + minor;
  checkCuda(cuDeviceGetAttribute(&device_.multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, handleDevice_),
            "cuDeviceGetAttribute");
  checkCuda(cuDriverGetVersion(&device_.driverVersion), "cuDriverGetVersion");

  // Keep freed stream-ordered memory in the pool: map building allocates many short-lived buffers.
  CUmemoryPool pool = nullptr;
  checkCuda(cuDeviceGetDefaultMemPool(&pool, handleDevice_), "cuDeviceGetDefaultMemPool");
  cuuint64_t keepAll = ~0ull;
  checkCuda(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keepAll), "cuMemPoolSetAttribute");
}

Context::~Context() {
  if (!context_)
    return;
  cuCtxSetCurrent(context_);
  kernelMaps_.clear();
  for (CUmodule module : modules_)
    cuModuleUnload(module);
  cuDevicePrimaryCtxRelease(handleDevice_);
}

size_t Context::peakPoolBytes() const {
  CUmemoryPool pool = nullptr;
  checkCuda(cuDeviceGetDefaultMemPool(&pool, handleDevice_), "cuDeviceGetDefaultMemPool");
  cuuint64_t high = 0;
  checkCuda(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &high), "cuMemPoolGetAttribute");
  return high;
}

void Context::resetPeakPoolBytes() {
  CUmemoryPool pool = nullptr;
  checkCuda(cuDeviceGetDefaultMemPool(&pool, handleDevice_), "cuDeviceGetDefaultMemPool");
  cuuint64_t zero = 0; // resets the high-water mark to the memory in use now
  checkCuda(cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_HIGH, &zero), "cuMemPoolSetAttribute");
}

std::vector<const skg_kernel_record *> Context::kernels() const {
  std::vector<const skg_kernel_record *> records;
  for (uint32_t i = 0; i < bundle_.kernel_count; ++i)
    records.push_back(&bundle_.kernels[i]);
  return records;
}

const skg_kernel_record &Context::findKernel(const std::string &name) const {
  for (uint32_t i = 0; i < bundle_.kernel_count; ++i)
    if (name == bundle_.kernels[i].name)
      return bundle_.kernels[i];
  std::string names;
  for (uint32_t i = 0; i < bundle_.kernel_count; ++i)
    names += fmt::format("\n  {}", bundle_.kernels[i].name);
  throw RuntimeError(fmt::format("no kernel {} in the linked bundle; it holds:{}", name, names));
}

const LoadedKernel &Context::load(const skg_kernel_record &record) {
  std::lock_guard lock(mutex_);
  if (auto it = loaded_.find(record.name); it != loaded_.end())
    return it->second;

  // Prefer the cubin made for exactly this SM; otherwise the PTX of the newest SM not above it,
  // which the driver compiles for this device.
  const skg_kernel_image *chosen = nullptr;
  for (uint32_t i = 0; i < record.image_count; ++i) {
    const auto &image = record.images[i];
    if (image.format == SKG_IMAGE_CUBIN && static_cast<int>(image.sm) == device_.sm)
      chosen = &image;
  }
  for (uint32_t i = 0; !chosen && i < record.image_count; ++i) {
    const auto &image = record.images[i];
    if (image.format == SKG_IMAGE_PTX && static_cast<int>(image.sm) <= device_.sm)
      chosen = &image;
  }
  for (uint32_t i = 0; i < record.image_count; ++i) {
    const auto &image = record.images[i];
    if (chosen && chosen->format == SKG_IMAGE_PTX && image.format == SKG_IMAGE_PTX &&
        static_cast<int>(image.sm) <= device_.sm && image.sm > chosen->sm)
      chosen = &image;
  }
  if (!chosen) {
    std::string available;
    for (uint32_t i = 0; i < record.image_count; ++i)
      available += fmt::format(" {} sm_{}", record.images[i].format == SKG_IMAGE_CUBIN ? "cubin" : "ptx",
                               record.images[i].sm);
    throw RuntimeError(fmt::format("kernel {} has no image this device (sm_{}, {}) can run; the bundle has:{}",
                                   record.name, device_.sm, device_.name, available));
  }

  checkCuda(cuCtxSetCurrent(context_), "cuCtxSetCurrent");
  CUmodule module = nullptr;
  std::string where = fmt::format("loading {} ({} sm_{})", record.name,
                                  chosen->format == SKG_IMAGE_CUBIN ? "cubin" : "ptx", chosen->sm);
  checkCuda(cuModuleLoadData(&module, chosen->data), "cuModuleLoadData", where);
  modules_.push_back(module);
  LoadedKernel kernel;
  kernel.record = &record;
  for (uint32_t i = 0; i < record.function_count; ++i) {
    const skg_kernel_function &recorded = record.functions[i];
    CUfunction function = nullptr;
    checkCuda(cuModuleGetFunction(&function, module, recorded.name), "cuModuleGetFunction", where);
    if (recorded.shared_memory_bytes > 0)
      checkCuda(cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                   static_cast<int>(recorded.shared_memory_bytes)),
                "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)",
                fmt::format("for {} ({} bytes)", recorded.name, recorded.shared_memory_bytes));
    kernel.functions.push_back(function);
  }
  kernel.imageDescription = fmt::format("{} sm_{}{}", chosen->format == SKG_IMAGE_CUBIN ? "cubin" : "ptx", chosen->sm,
                                        chosen->format == SKG_IMAGE_PTX ? " (JIT)" : "");
  return loaded_.emplace(record.name, kernel).first->second;
}

void Context::synchronize(const char *what) {
  checkCuda(cuCtxSetCurrent(context_), "cuCtxSetCurrent");
  checkCuda(cuCtxSynchronize(), "cuCtxSynchronize", fmt::format("after {}", what));
}

} // namespace sparsekgen
