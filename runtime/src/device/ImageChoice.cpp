#include "sparsekgen/ImageChoice.h"

#include <fmt/format.h>

namespace sparsekgen {

namespace {
bool isArchSpecific(const skg_kernel_record &record) {
  return record.math == SKG_MATH_WARPGROUP_MMA || record.math == SKG_MATH_WARPGROUP_MMA_TMA;
}
} // namespace

const skg_kernel_image *chooseKernelImage(const skg_kernel_record &record, int deviceSm) {
  // Warpgroup-MMA kernels are built for sm_90a: their cubin and PTX run on compute capability 9.0
  // alone (no other cubin of the major version, no JIT for newer GPUs).
  const bool archSpecific = isArchSpecific(record);
  const skg_kernel_image *exactCubin = nullptr, *sameMajorCubin = nullptr, *ptx = nullptr;
  for (uint32_t i = 0; i < record.image_count; ++i) {
    const skg_kernel_image &image = record.images[i];
    const int sm = static_cast<int>(image.sm);
    if (sm > deviceSm || (archSpecific && sm != deviceSm))
      continue;
    if (image.format == SKG_IMAGE_CUBIN) {
      if (sm == deviceSm)
        exactCubin = &image;
      else if (sm / 10 == deviceSm / 10 && (!sameMajorCubin || sm > static_cast<int>(sameMajorCubin->sm)))
        sameMajorCubin = &image;
    } else if (image.format == SKG_IMAGE_PTX && (!ptx || sm > static_cast<int>(ptx->sm))) {
      ptx = &image;
    }
  }
  return exactCubin ? exactCubin : sameMajorCubin ? sameMajorCubin : ptx;
}

std::string whyKernelCannotRun(const skg_kernel_record &record, const DeviceLimits &device) {
  if (!chooseKernelImage(record, device.sm)) {
    std::string available;
    for (uint32_t i = 0; i < record.image_count; ++i)
      available += " " + describeImage(record.images[i]);
    return fmt::format("no image an sm_{} device can run (the bundle has:{}{})", device.sm,
                       available.empty() ? " none" : available,
                       isArchSpecific(record) ? "; warpgroup-MMA images are sm_90a, for sm_90 alone" : "");
  }
  for (uint32_t i = 0; i < record.function_count; ++i) {
    const skg_kernel_function &function = record.functions[i];
    if (function.shared_memory_bytes > device.sharedMemoryPerBlockOptin)
      return fmt::format("{} needs {} bytes of dynamic shared memory per block; an sm_{} device allows {}",
                         function.name, function.shared_memory_bytes, device.sm, device.sharedMemoryPerBlockOptin);
  }
  return {};
}

std::string describeImage(const skg_kernel_image &image) {
  return fmt::format("{} sm_{}", image.format == SKG_IMAGE_CUBIN ? "cubin" : "ptx", image.sm);
}

} // namespace sparsekgen
