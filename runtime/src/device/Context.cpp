#include "sparsekgen/Context.h"

#include <map>

#include <fmt/format.h>

#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/ImageChoice.h"

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

Context::Context(int ordinal, const skg_bundle &bundle) : Context(ordinal, std::vector<const skg_bundle *>{&bundle}) {}

Context::Context(int ordinal, std::vector<const skg_bundle *> bundles) : bundles_(std::move(bundles)) {
  if (bundles_.empty())
    throw RuntimeError("a context needs at least one kernel bundle");
  std::map<std::string, size_t> owner; // kernel name -> the bundle holding it
  std::vector<std::string> hashes;
  for (size_t b = 0; b < bundles_.size(); ++b) {
    const skg_bundle &bundle = *bundles_[b];
    // A bundle of another ABI version may lay out its records differently: only the version is read.
    if (bundle.abi_version != SPARSEKGEN_BUNDLE_ABI_VERSION)
      throw RuntimeError(fmt::format("linked kernel bundle {} has ABI version {}, this runtime reads version {}; "
                                     "rebuild the bundle with the matching sparsekgen",
                                     b, bundle.abi_version, SPARSEKGEN_BUNDLE_ABI_VERSION));
    for (uint32_t i = 0; i < bundle.kernel_count; ++i)
      if (auto [it, added] = owner.emplace(bundle.kernels[i].name, b); !added)
        throw RuntimeError(fmt::format("kernel {} is in linked bundles {} and {}; a context's bundles must not share "
                                       "kernel names",
                                       bundle.kernels[i].name, it->second, b));
    hashes.push_back(bundle.bundle_hash);
  }
  bundleHash_ = joinBundleHashes(hashes);
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
  int optin = 0;
  checkCuda(cuDeviceGetAttribute(&optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, handleDevice_),
            "cuDeviceGetAttribute");
  limits_ = {device_.sm, static_cast<unsigned>(optin)};

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
  weightTensorMaps_.clear();
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
  for (const skg_bundle *bundle : bundles_)
    for (uint32_t i = 0; i < bundle->kernel_count; ++i)
      if (whyKernelCannotRun(bundle->kernels[i], limits_).empty())
        records.push_back(&bundle->kernels[i]);
  return records;
}

std::vector<std::pair<const skg_kernel_record *, std::string>> Context::kernelsThatCannotRun() const {
  std::vector<std::pair<const skg_kernel_record *, std::string>> records;
  for (const skg_bundle *bundle : bundles_)
    for (uint32_t i = 0; i < bundle->kernel_count; ++i)
      if (std::string why = whyKernelCannotRun(bundle->kernels[i], limits_); !why.empty())
        records.emplace_back(&bundle->kernels[i], why);
  return records;
}

const skg_kernel_record &Context::findKernel(const std::string &name) const {
  for (const skg_bundle *bundle : bundles_)
    for (uint32_t i = 0; i < bundle->kernel_count; ++i)
      if (name == bundle->kernels[i].name)
        return bundle->kernels[i];
  std::string names;
  for (const skg_bundle *bundle : bundles_)
    for (uint32_t i = 0; i < bundle->kernel_count; ++i)
      names += fmt::format("\n  {}", bundle->kernels[i].name);
  throw RuntimeError(fmt::format("no kernel {} in the linked {}:{}", name,
                                 bundles_.size() > 1 ? "bundles; they hold" : "bundle; it holds", names));
}

const LoadedKernel &Context::load(const skg_kernel_record &record) {
  std::lock_guard lock(mutex_);
  if (auto it = loaded_.find(record.name); it != loaded_.end())
    return it->second;

  if (std::string why = whyKernelCannotRun(record, limits_); !why.empty())
    throw RuntimeError(fmt::format("kernel {} cannot run on device {} ({}): {}", record.name, device_.ordinal,
                                   device_.name, why));
  const skg_kernel_image *chosen = chooseKernelImage(record, device_.sm);

  checkCuda(cuCtxSetCurrent(context_), "cuCtxSetCurrent");
  CUmodule module = nullptr;
  std::string where = fmt::format("loading {} ({})", record.name, describeImage(*chosen));
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
  kernel.imageDescription = describeImage(*chosen) + (chosen->format == SKG_IMAGE_PTX ? " (JIT)" : "");
  return loaded_.emplace(record.name, kernel).first->second;
}

void Context::synchronize(const char *what) {
  checkCuda(cuCtxSetCurrent(context_), "cuCtxSetCurrent");
  checkCuda(cuCtxSynchronize(), "cuCtxSynchronize", fmt::format("after {}", what));
}

} // namespace sparsekgen
