// The rules a spec must satisfy before any IR is built. Each violation names its rule and numbers.
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/generator/KernelSpec.h"

namespace sparsekgen {

struct LegalityViolation {
  std::string rule;     // short identifier, e.g. "warp-divides-cta"
  std::string field;    // JSON pointer suffix of the field to change, e.g. "/tile/warp/0"
  std::string message;  // the rule and the numbers
};

// Bytes of dynamic shared memory the spec's pipeline ring needs.
int sharedMemoryBytes(const KernelSpec &spec);

// Empty when the spec is legal.
std::vector<LegalityViolation> checkLegality(const KernelSpec &spec);

} // namespace sparsekgen
