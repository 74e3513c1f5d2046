// The runtime's entry point: a CUDA device, the kernels of a linked bundle, and their loaded
// modules. Uses the CUDA driver API; errors throw CudaError naming the call and the kernel.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <cuda.h>

#include "sparsekgen/BundleAbi.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/ImageChoice.h"
#include "sparsekgen/KernelMapCache.h"

namespace sparsekgen {

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int sm = 0; // 90 for compute capability 9.0
  int multiprocessors = 0;
  int driverVersion = 0;
};

// A kernel ready to launch: its record in the bundle and its loaded functions.
struct LoadedKernel {
  const skg_kernel_record *record = nullptr;
  std::vector<CUfunction> functions; // one per record->functions entry, in that order
  std::string imageDescription;      // e.g. "cubin sm_90" or "ptx sm_80 (JIT)"

  // The loaded function of one of the record's functions.
  CUfunction function(const skg_kernel_function &recorded) const {
    return functions.at(static_cast<size_t>(&recorded - record->functions));
  }
};

class Context {
public:
  // Opens device `ordinal` (its primary context) with the kernels of `bundle`.
  Context(int ordinal, const skg_bundle &bundle);
  // ... with the kernels of several bundles (e.g. the default bundle and the Hopper bundle,
  // ApplicationBundles.h), which dispatch, the tuner and the executors then choose among as one.
  // Throws RuntimeError when two bundles hold a kernel of the same name.
  Context(int ordinal, std::vector<const skg_bundle *> bundles);
  ~Context();
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;

  const DeviceInfo &device() const { return device_; }
  const std::vector<const skg_bundle *> &bundles() const { return bundles_; }
  // What config tables record and check (ConfigTable::requireMatch): the bundle's hash, or the
  // hashes of several joined by '+', in the order they were given.
  const std::string &bundleHash() const { return bundleHash_; }
  CUcontext handle() const { return context_; }

  // The bundles' kernels this device can run (ImageChoice.h), in bundle order: what dispatch, the
  // tuner and the benchmarks choose from.
  std::vector<const skg_kernel_record *> kernels() const;
  // The others, each with the reason (e.g. sm_80 kernels needing more shared memory than an sm_86
  // GPU gives a block).
  std::vector<std::pair<const skg_kernel_record *, std::string>> kernelsThatCannotRun() const;
  // Throws RuntimeError listing the bundle's kernels when `name` is not among them.
  const skg_kernel_record &findKernel(const std::string &name) const;
  // Loads the best image for this device on first use (chooseKernelImage: the cubin for its SM,
  // else a cubin of its major version, else the newest PTX it can JIT), and raises the dynamic
  // shared memory limit the kernel needs. Throws RuntimeError for a kernel it cannot run.
  const LoadedKernel &load(const skg_kernel_record &record);

  void synchronize(const char *what = "the last launch");

  // The most device memory in use at once from the stream-ordered pool every DeviceBuffer draws
  // from, since the context opened or the last reset (bytes): a run's peak memory.
  size_t peakPoolBytes() const;
  void resetPeakPoolBytes();

  // The device address of a tensor map of the weight W [volume, in, out] at `weight` (f16 or bf16,
  // `dtype` a skg_dtype): 64 x 64 x 1 boxes in 128-byte swizzle, out-of-range elements zero, as
  // warpgroup_mma_tma kernels read it (TmaWeightTiles.h). Encoded and uploaded on first use of each
  // (address, shape), then reused. Throws RuntimeError for shapes a tensor map cannot describe
  // (out not a multiple of 8, a misaligned address).
  CUdeviceptr weightTensorMap(CUdeviceptr weight, uint32_t dtype, int volume, int in, int out);

  // Kernel maps of this context's convolutions, each built once (KernelMapCache.h).
  KernelMapCache &kernelMaps() { return kernelMaps_; }

  // Number of CUDA devices; 0 (not an exception) when there is no driver or no device, with the
  // reason in `why`.
  static int deviceCount(std::string *why = nullptr);

private:
  DeviceInfo device_;
  DeviceLimits limits_;
  std::vector<const skg_bundle *> bundles_;
  std::string bundleHash_;
  CUdevice handleDevice_ = 0;
  CUcontext context_ = nullptr;
  std::mutex mutex_;
  std::map<std::string, LoadedKernel> loaded_;
  std::vector<CUmodule> modules_;
  KernelMapCache kernelMaps_;
  std::map<std::tuple<CUdeviceptr, uint32_t, int, int, int>, DeviceBuffer> weightTensorMaps_;
};

} // namespace sparsekgen
