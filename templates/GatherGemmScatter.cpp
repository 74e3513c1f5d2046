// Gather-GEMM-scatter: the pairs' input rows are gathered into a dense matrix (`_gather`), each
// offset's rows of it are multiplied by that offset's weight by a grouped GEMM whose tiles each
// cover one offset's pairs (dense fp32 products per pair), the products are added to their
// output rows (`_scatter`, fp32 atomics), and the reduction applies the epilogue. The runtime
// groups offsets of similar pair counts into one launch each (batched GEMMs over the offsets of a
// group). The gathered and product matrices make this the dataflow with the most memory traffic;
// it pays where channels are wide and dense GEMM efficiency dominates.
#include "ImplicitGemmMainloop.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

void buildGatherGemmScatter(mlir::ModuleOp module, const KernelSpec &spec) {
  buildImplicitGemmKernel(module, spec, ImplicitGemmVariant::GroupedGemm);
  buildGatherKernel(module, spec);
  buildScatterKernel(module, spec);
  buildSplitReductionKernel(module, spec);
}

} // namespace sparsekgen
