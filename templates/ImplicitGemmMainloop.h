// The main loop the implicit GEMM dataflows and fetch-on-demand share: gathered A tiles through out_in_map,
// weight B tiles, a cp.async ring, ldmatrix + mma.sync. The dataflows differ in which rows a CTA
// takes (natural order, or a sort permutation), which kernel offsets it visits (all, or only those
// its OR-reduced tile mask holds) and where results go (epilogue and store, or fp32 partial sums).
#pragma once

#include "mlir/IR/BuiltinOps.h"

#include "sparsekgen/generator/KernelSpec.h"
#include "sparsekgen/generator/LaunchAbi.h"

namespace sparsekgen {

enum class ImplicitGemmVariant {
  Unsorted,      // rows in natural order, every offset, epilogue + store
  Sorted,        // rows through the sort permutation, offsets of the tile mask, epilogue + store
  Split,         // grid.z splits of the offsets, each sorted; fp32 partial sums for the reduction kernel
  FetchOnDemand, // a tile of one offset's (input, output) pairs: gather, GEMM, atomic scatter of fp32
                 // partial sums; the reduction kernel (one split) applies the epilogue
  GroupedGemm,   // gather-GEMM-scatter's GEMM: a tile of one offset's rows of the gathered matrix,
                 // dense fp32 products per pair
};

// Adds the kernel named kernelName(spec) to `module` (inside a gpu.module).
void buildImplicitGemmKernel(mlir::ModuleOp module, const KernelSpec &spec, ImplicitGemmVariant variant);

// The main kernel's parameters and launch shape.
LaunchAbi implicitGemmLaunchAbi(const KernelSpec &spec, ImplicitGemmVariant variant);

// The split dataflow's second kernel (kernelName(spec) + "_reduce"): sums the splits' partials,
// applies the epilogue, converts and stores.
void buildSplitReductionKernel(mlir::ModuleOp module, const KernelSpec &spec);
constexpr int kReductionThreads = 256;

// Gather-GEMM-scatter's element-wise kernels: `<name>_gather` copies the pairs' input rows into a
// dense matrix; `<name>_scatter` adds the pairs' fp32 products to their output rows (atomically).
void buildGatherKernel(mlir::ModuleOp module, const KernelSpec &spec);
void buildScatterKernel(mlir::ModuleOp module, const KernelSpec &spec);

} // namespace sparsekgen
