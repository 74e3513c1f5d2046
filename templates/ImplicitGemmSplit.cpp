// Implicit GEMM, forward, split mask: the offsets are split into S groups (grid.z), each with its
// own sort permutation and tile masks; each split writes fp32 partial sums, and a second kernel
// adds the S partials in fp32, applies the epilogue and stores (fp16 partials would lose the
// precision the accumulator kept).
#include "ImplicitGemmMainloop.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

void buildImplicitGemmSplit(mlir::ModuleOp module, const KernelSpec &spec) {
  buildImplicitGemmKernel(module, spec, ImplicitGemmVariant::Split);
  buildSplitReductionKernel(module, spec);
}

} // namespace sparsekgen
