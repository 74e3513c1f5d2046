// Which image of a kernel a device runs, and whether it can run the kernel at all. No CUDA: the
// rules are pure so the unit tests pin them and `sparsekgen explain` can share them.
#pragma once

#include <string>

#include "sparsekgen/BundleAbi.h"

namespace sparsekgen {

// The device properties the choice depends on.
struct DeviceLimits {
  int sm = 0;                           // 86 for compute capability 8.6
  unsigned sharedMemoryPerBlockOptin = 0; // the most dynamic shared memory a block may opt into (bytes)
};

// The image of `record` that `device` loads, in this order of preference:
//   1. the cubin built for exactly the device's SM;
//   2. the cubin of the newest SM of the same major version not above the device's (a cubin runs
//      on later minor versions of its major: sm_80 cubins on sm_86 and sm_89 GPUs, no JIT);
//   3. the PTX of the newest SM not above the device's, which the driver compiles at load time.
// Null when none of these exists.
const skg_kernel_image *chooseKernelImage(const skg_kernel_record &record, int deviceSm);

// Empty when `device` can run `record`; otherwise why not (no image for the SM, or a function
// needing more dynamic shared memory than the device allows a block, as on sm_86 and sm_89 for
// kernels sized for sm_80's 163 KiB).
std::string whyKernelCannotRun(const skg_kernel_record &record, const DeviceLimits &device);

// "cubin sm_90", "ptx sm_80".
std::string describeImage(const skg_kernel_image &image);

} // namespace sparsekgen
