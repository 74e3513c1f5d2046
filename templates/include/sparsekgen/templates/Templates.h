// The dataflow templates: each composes generator building blocks into one kernel family. This is
// the one place that maps a spec to the template that builds it and to the ABI it is launched with.
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "sparsekgen/generator/KernelSpec.h"
#include "sparsekgen/generator/LaunchAbi.h"

namespace sparsekgen {


// A module holding one gpu.module with the spec's kernel (named kernelName(spec)).
// Throws GeneratorError when no template implements the spec.
mlir::OwningOpRef<mlir::ModuleOp> buildKernelModule(mlir::MLIRContext &context, const KernelSpec &spec);

LaunchAbi launchAbi(const KernelSpec &spec);

// One builder per dataflow template (templates/ImplicitGemm*.cpp).
void buildImplicitGemmUnsorted(mlir::ModuleOp module, const KernelSpec &spec);
void buildImplicitGemmSorted(mlir::ModuleOp module, const KernelSpec &spec);
void buildImplicitGemmSplit(mlir::ModuleOp module, const KernelSpec &spec);
void buildFetchOnDemand(mlir::ModuleOp module, const KernelSpec &spec);
void buildGatherGemmScatter(mlir::ModuleOp module, const KernelSpec &spec);

} // namespace sparsekgen
