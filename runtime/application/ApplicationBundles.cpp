#include "ApplicationBundles.h"

#include <fmt/format.h>

#include "sparsekgen_kernels.h"
#if SPARSEKGEN_HAVE_HOPPER_BUNDLE
#include "sparsekgen_hopper_kernels.h"
#endif

namespace sparsekgen {

bool hopperBundleLinked() { return SPARSEKGEN_HAVE_HOPPER_BUNDLE != 0; }

std::vector<const skg_bundle *> applicationBundles(bool withHopperKernels) {
  std::vector<const skg_bundle *> bundles{&sparsekgen_kernels};
#if SPARSEKGEN_HAVE_HOPPER_BUNDLE
  if (withHopperKernels)
    bundles.push_back(&sparsekgen_hopper_kernels);
#else
  (void)withHopperKernels;
#endif
  return bundles;
}

std::string describeBundles(const std::vector<const skg_bundle *> &bundles) {
  std::string text;
  for (const skg_bundle *bundle : bundles) {
    std::string name = bundle == &sparsekgen_kernels ? "default" : "other";
#if SPARSEKGEN_HAVE_HOPPER_BUNDLE
    if (bundle == &sparsekgen_hopper_kernels)
      name = "Hopper";
#endif
    text += fmt::format("{}{} bundle ({} kernels)", text.empty() ? "" : " + ", name, bundle->kernel_count);
  }
  return text;
}

} // namespace sparsekgen
