// Implicit GEMM, forward, rows in their natural order: out[j] = sum_k in[out_in_map[j][k]] * W[k].
// GEMM view: M = outputs, N = Cout, K = kernel volume x Cin; a K-step covers one kernel offset and
// CTA-K input channels, its A rows gathered through out_in_map (ImplicitGemmMainloop.cpp).
#include "ImplicitGemmMainloop.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

void buildImplicitGemmUnsorted(mlir::ModuleOp module, const KernelSpec &spec) {
  buildImplicitGemmKernel(module, spec, ImplicitGemmVariant::Unsorted);
}

} // namespace sparsekgen
