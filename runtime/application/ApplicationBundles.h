// The kernels sparsekgen's own programs run (sparsekgen-tune, sparsekgen-run-network, the network
// and training benchmarks, the Python module): the default bundle and, where the build has it, the
// Hopper bundle of warpgroup-MMA kernels (templates/catalogs/hopper.json). A Context over both lets
// dispatch, the tuner and the executors choose among them per layer; on GPUs other than sm_90 the
// Hopper kernels are among Context::kernelsThatCannotRun and choices stay the default bundle's.
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/BundleAbi.h"

namespace sparsekgen {

// Whether this build linked the Hopper bundle.
bool hopperBundleLinked();

// The default bundle, then the Hopper bundle where it is linked and `withHopperKernels`.
std::vector<const skg_bundle *> applicationBundles(bool withHopperKernels = true);

// E.g. "default bundle (280 kernels) + Hopper bundle (93 kernels)", for progress output.
std::string describeBundles(const std::vector<const skg_bundle *> &bundles);

} // namespace sparsekgen
