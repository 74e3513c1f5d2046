// The default bundle's kernels of one operation, as indices for parameterised tests.
#pragma once

#include <cstddef>
#include <vector>

#include "sparsekgen_kernels.h"

namespace sparsekgen::testclouds {

inline std::vector<size_t> kernelsOf(skg_operation operation) {
  std::vector<size_t> indices;
  for (size_t i = 0; i < sparsekgen_kernels.kernel_count; ++i)
    if (sparsekgen_kernels.kernels[i].operation == static_cast<uint32_t>(operation))
      indices.push_back(i);
  return indices;
}

inline const skg_kernel_record *firstKernelOf(skg_operation operation) {
  auto indices = kernelsOf(operation);
  return indices.empty() ? nullptr : &sparsekgen_kernels.kernels[indices.front()];
}

} // namespace sparsekgen::testclouds
