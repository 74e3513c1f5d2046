// Fetch-on-demand: gather, GEMM and scatter fused in one kernel. Each CTA takes a tile of one
// kernel offset's (input, output) pairs: it gathers the pairs' input rows (zero-filling cp.async),
// multiplies by that offset's weight and adds the products to the pairs' output rows with fp32
// atomics; no gathered or per-offset product matrix exists in global memory. The reduction kernel
// (one split) then applies the epilogue and converts. All offsets share one launch, so offsets
// with few pairs cost a few tiles rather than a launch each.
#include "ImplicitGemmMainloop.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

void buildFetchOnDemand(mlir::ModuleOp module, const KernelSpec &spec) {
  buildImplicitGemmKernel(module, spec, ImplicitGemmVariant::FetchOnDemand);
  buildSplitReductionKernel(module, spec);
}

} // namespace sparsekgen
