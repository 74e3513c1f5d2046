// Implicit GEMM, forward, sorted: rows are taken in the order of a permutation that sorts them by
// their offset bitmask, so a CTA's rows share offsets; each CTA visits only the offsets set in its
// tile's OR-reduced mask and stores each row through the permutation.
#include "ImplicitGemmMainloop.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

void buildImplicitGemmSorted(mlir::ModuleOp module, const KernelSpec &spec) {
  buildImplicitGemmKernel(module, spec, ImplicitGemmVariant::Sorted);
}

} // namespace sparsekgen
