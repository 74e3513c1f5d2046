// The template registry: the one place that maps a spec to the template that builds it and to the
// ABI it is launched with. Each template file registers itself for its dataflow and operation
// (KernelTemplate.h); nothing here names a dataflow.
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "sparsekgen/generator/KernelSpec.h"
#include "sparsekgen/generator/LaunchAbi.h"

namespace sparsekgen {

// A module holding one gpu.module with the spec's kernel (named kernelName(spec)) and its companions.
// Throws GeneratorError when the spec is illegal or no template implements it.
mlir::OwningOpRef<mlir::ModuleOp> buildKernelModule(mlir::MLIRContext &context, const KernelSpec &spec);

LaunchAbi launchAbi(const KernelSpec &spec);

// Whether a template is registered for the spec's dataflow and operation.
bool hasTemplate(const KernelSpec &spec);

} // namespace sparsekgen
