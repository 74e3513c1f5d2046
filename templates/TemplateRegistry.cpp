#include <fmt/format.h>

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/Legality.h"
#include "ImplicitGemmMainloop.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

namespace {
void requireTemplate(const KernelSpec &spec) {
  auto violations = checkLegality(spec);
  if (!violations.empty())
    throw GeneratorError(fmt::format("cannot build {}: [{}] {}", kernelName(spec), violations.front().rule,
                                     violations.front().message));
}
} // namespace

mlir::OwningOpRef<mlir::ModuleOp> buildKernelModule(mlir::MLIRContext &context, const KernelSpec &spec) {
  requireTemplate(spec);
  mlir::OpBuilder builder(&context);
  auto loc = mlir::NameLoc::get(builder.getStringAttr(kernelName(spec)));
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  (*module)->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(), builder.getUnitAttr());
  switch (spec.dataflow) {
  case Dataflow::ImplicitGemm:
    buildImplicitGemmUnsorted(*module, spec);
    break;
  case Dataflow::ImplicitGemmSorted:
    buildImplicitGemmSorted(*module, spec);
    break;
  case Dataflow::ImplicitGemmSplit:
    buildImplicitGemmSplit(*module, spec);
    break;
  case Dataflow::FetchOnDemand:
    buildFetchOnDemand(*module, spec);
    break;
  case Dataflow::GatherGemmScatter:
    buildGatherGemmScatter(*module, spec);
    break;
  default:
    throw GeneratorError(fmt::format("no template for dataflow {}", toString(spec.dataflow)));
  }
  return module;
}

LaunchAbi launchAbi(const KernelSpec &spec) {
  requireTemplate(spec);
  switch (spec.dataflow) {
  case Dataflow::ImplicitGemmSorted:
    return implicitGemmLaunchAbi(spec, ImplicitGemmVariant::Sorted);
  case Dataflow::ImplicitGemmSplit:
    return implicitGemmLaunchAbi(spec, ImplicitGemmVariant::Split);
  case Dataflow::FetchOnDemand:
    return implicitGemmLaunchAbi(spec, ImplicitGemmVariant::FetchOnDemand);
  case Dataflow::GatherGemmScatter:
    return implicitGemmLaunchAbi(spec, ImplicitGemmVariant::GroupedGemm);
  default:
    return implicitGemmLaunchAbi(spec, ImplicitGemmVariant::Unsorted);
  }
}

} // namespace sparsekgen
