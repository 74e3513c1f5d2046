#include <map>

#include <fmt/format.h>

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

#include "KernelTemplate.h"
#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/Legality.h"
#include "sparsekgen/generator/blocks/TmaWeightTiles.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

namespace {

std::map<std::pair<skg_dataflow, skg_operation>, TemplateFunctions> &registry() {
  static std::map<std::pair<skg_dataflow, skg_operation>, TemplateFunctions> templates;
  return templates;
}

skg_operation operationOf(const KernelSpec &spec) { return static_cast<skg_operation>(spec.operation); }

skg_function_role roleOf(CompanionKernel kernel) {
  switch (kernel) {
  case CompanionKernel::Reduce:
    return SKG_FUNCTION_REDUCE;
  case CompanionKernel::Gather:
    return SKG_FUNCTION_GATHER;
  case CompanionKernel::Scatter:
    return SKG_FUNCTION_SCATTER;
  }
  return SKG_FUNCTION_MAIN;
}

// The template's functions for a legal spec, checked against the dataflow table: the main kernel
// first, then exactly the table's companions in its order.
std::vector<FunctionTemplate> functionsOf(const KernelSpec &spec) {
  auto violations = checkLegality(spec);
  if (!violations.empty())
    throw GeneratorError(fmt::format("cannot build {}: [{}] {}", kernelName(spec), violations.front().rule,
                                     violations.front().message));
  std::vector<FunctionTemplate> functions = registeredTemplate(spec.dataflow, operationOf(spec))(spec);
  const DataflowInfo &info = spec.dataflowInfo();
  bool matches = !functions.empty() && functions.front().abi.role == SKG_FUNCTION_MAIN &&
                 functions.size() == info.companions.size() + 1;
  for (size_t i = 0; matches && i < info.companions.size(); ++i)
    matches = functions[i + 1].abi.role == roleOf(info.companions[i]);
  if (!matches)
    throw GeneratorError(fmt::format("the {} template's functions differ from the dataflow table's companions",
                                     toString(spec.dataflow)));
  return functions;
}

mlir::Type parameterType(mlir::MLIRContext *context, skg_parameter_type type, int indexBits) {
  mlir::Builder b(context);
  switch (type) {
  case SKG_PARAMETER_F16_BUFFER:
    return KernelBuilder::globalBufferType(b.getF16Type(), indexBits);
  case SKG_PARAMETER_BF16_BUFFER:
    return KernelBuilder::globalBufferType(b.getBF16Type(), indexBits);
  case SKG_PARAMETER_F32_BUFFER:
    return KernelBuilder::globalBufferType(b.getF32Type(), indexBits);
  case SKG_PARAMETER_I32_BUFFER:
    return KernelBuilder::globalBufferType(b.getI32Type(), indexBits);
  case SKG_PARAMETER_TENSOR_MAP: // the map's generic address, which the TMA instructions take
    return mlir::LLVM::LLVMPointerType::get(context);
  default:
    return b.getI32Type();
  }
}

// One gpu.func per function, in the template's order, inside the module's gpu.module.
void buildFunction(mlir::ModuleOp module, const FunctionTemplate &function, int indexBits) {
  mlir::ImplicitLocOpBuilder b(module.getLoc(), module.getContext());
  mlir::gpu::GPUModuleOp gpuModule;
  module.walk([&](mlir::gpu::GPUModuleOp found) { gpuModule = found; });
  if (!gpuModule) {
    b.setInsertionPointToEnd(module.getBody());
    gpuModule = mlir::gpu::GPUModuleOp::create(b, function.abi.name + "_module");
    gpuModule->setAttr(kIndexBitsAttribute, b.getI32IntegerAttr(indexBits));
  }
  b.setInsertionPointToEnd(gpuModule.getBody());
  llvm::SmallVector<mlir::Type> types;
  for (const auto &parameter : function.abi.parameters)
    types.push_back(parameterType(module.getContext(), parameter.type, indexBits));
  auto func = mlir::gpu::GPUFuncOp::create(b, function.abi.name, b.getFunctionType(types, {}));
  func->setAttr(mlir::gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({function.abi.threadsPerBlock, 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  std::map<std::string, mlir::Value> arguments;
  for (size_t i = 0; i < function.abi.parameters.size(); ++i)
    arguments[function.abi.parameters[i].name] = func.getArgument(i);
  KernelBuilder kb(b);
  function.body(kb, KernelArguments(std::move(arguments)));
  mlir::gpu::ReturnOp::create(b);
}

} // namespace

TemplateRegistration::TemplateRegistration(skg_dataflow dataflow, skg_operation operation,
                                           TemplateFunctions functions) {
  registry()[{dataflow, operation}] = std::move(functions);
}

const TemplateFunctions &registeredTemplate(skg_dataflow dataflow, skg_operation operation) {
  auto it = registry().find({dataflow, operation});
  if (it == registry().end())
    throw GeneratorError(fmt::format("no template for {} {}", dataflowSpellings().at(dataflow),
                                     operationSpellings().at(operation)));
  return it->second;
}

bool hasTemplate(const KernelSpec &spec) { return registry().count({spec.dataflow, operationOf(spec)}) > 0; }

mlir::OwningOpRef<mlir::ModuleOp> buildKernelModule(mlir::MLIRContext &context, const KernelSpec &spec) {
  auto functions = functionsOf(spec);
  mlir::OpBuilder builder(&context);
  auto loc = mlir::NameLoc::get(builder.getStringAttr(kernelName(spec)));
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  (*module)->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(), builder.getUnitAttr());
  for (const auto &function : functions)
    buildFunction(*module, function, spec.indexBits);
  module->walk([&](mlir::gpu::GPUModuleOp gpuModule) {
    if (spec.archSpecific())
      gpuModule->setAttr(kArchSpecificAttribute, builder.getUnitAttr());
    if (spec.tmaWeights())
      gpuModule->setAttr(kPtxVersionAttribute, builder.getI32IntegerAttr(kTensorMapFencePtxVersion));
  });
  return module;
}

LaunchAbi launchAbi(const KernelSpec &spec) {
  LaunchAbi abi;
  abi.name = spec.dataflowInfo().abiName(operationOf(spec));
  for (auto &function : functionsOf(spec))
    abi.functions.push_back(std::move(function.abi));
  return abi;
}

} // namespace sparsekgen
