#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/KernelBuilder.h"
#include "sparsekgen/generator/Lowering.h"

namespace sparsekgen {

void registerGeneratorDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::arith::ArithDialect, mlir::cf::ControlFlowDialect, mlir::func::FuncDialect,
                  mlir::gpu::GPUDialect, mlir::index::IndexDialect, mlir::LLVM::LLVMDialect,
                  mlir::memref::MemRefDialect, mlir::NVVM::NVVMDialect, mlir::nvgpu::NVGPUDialect,
                  mlir::scf::SCFDialect, mlir::ub::UBDialect, mlir::vector::VectorDialect>();
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerGPUDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  mlir::registerNVVMDialectTranslation(registry);
}

void buildLowerToLLVMDialectPipeline(mlir::OpPassManager &pm, int sm, bool archSpecific, int ptxVersion) {
  auto &kernels = pm.nest<mlir::gpu::GPUModuleOp>();
  kernels.addPass(mlir::createCanonicalizerPass());
  kernels.addPass(mlir::createCSEPass());
  kernels.addPass(mlir::createSCFToControlFlowPass());
  kernels.addPass(createLowerKernelToNVVMPass());
  // NVVM ops written as inline PTX (the warpgroup MMA's wgmma.mma_async) become inline assembly.
  kernels.addPass(mlir::createConvertNVVMToLLVMPass());
  kernels.addPass(mlir::createReconcileUnrealizedCastsPass());
  kernels.addPass(mlir::createCanonicalizerPass());
  kernels.addPass(mlir::createCSEPass());
  mlir::GpuNVVMAttachTargetOptions target;
  target.chip = fmt::format("sm_{}{}", sm, archSpecific ? "a" : "");
  target.optLevel = 3;
  // Without an explicit PTX feature NVVM picks the lowest PTX ISA version valid for the chip (an
  // explicit old one, like the default pipeline's +ptx60, is rejected for sm_80 and later).
  if (ptxVersion > 0)
    target.features = fmt::format("+ptx{}", ptxVersion);
  pm.addPass(mlir::createGpuNVVMAttachTarget(target));
}

namespace {

void initializeNvptxBackend() {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
}

// Runs `format` ("isa" = PTX, "llvm" = bitcode) on a copy of `module`; returns the object bytes.
std::string lowerToObject(mlir::ModuleOp module, int sm, const char *format) {
  initializeNvptxBackend();
  mlir::OwningOpRef<mlir::ModuleOp> copy(module.clone());
  auto *context = module.getContext();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(context, [&](mlir::Diagnostic &diagnostic) {
    llvm::raw_string_ostream os(diagnostics);
    os << diagnostic.getLocation() << ": " << diagnostic << "\n";
    // Notes can hold a whole module; the first lines say enough.
    for (auto &note : diagnostic.getNotes()) {
      std::string text = note.str();
      os << "  note: " << text.substr(0, 600) << (text.size() > 600 ? " ..." : "") << "\n";
    }
    return mlir::success();
  });
  mlir::PassManager pm(context);
  bool archSpecific = false;
  int ptxVersion = 0;
  copy->walk([&](mlir::gpu::GPUModuleOp gpuModule) {
    archSpecific |= gpuModule->hasAttr(kArchSpecificAttribute);
    if (auto version = gpuModule->getAttrOfType<mlir::IntegerAttr>(kPtxVersionAttribute))
      ptxVersion = std::max(ptxVersion, static_cast<int>(version.getInt()));
  });
  buildLowerToLLVMDialectPipeline(pm, sm, archSpecific, ptxVersion);
  mlir::GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = format;
  pm.addPass(mlir::createGpuModuleToBinaryPass(binary));
  if (mlir::failed(pm.run(*copy)))
    throw GeneratorError(fmt::format("lowering to sm_{} failed:\n{}", sm, diagnostics));
  std::string object;
  copy->walk([&](mlir::gpu::BinaryOp binaryOp) {
    for (mlir::Attribute attr : binaryOp.getObjects())
      object = mlir::cast<mlir::gpu::ObjectAttr>(attr).getObject().str();
  });
  if (object.empty())
    throw GeneratorError(fmt::format("lowering to sm_{} produced no {} object", sm, format));
  return object;
}

} // namespace

std::string lowerToPtx(mlir::ModuleOp module, int sm) { return lowerToObject(module, sm, "isa"); }

std::string lowerToLLVMIR(mlir::ModuleOp module, int sm) {
  std::string bitcode = lowerToObject(module, sm, "llvm");
  llvm::LLVMContext context;
  auto buffer = llvm::MemoryBuffer::getMemBuffer(bitcode, "kernel", /*RequiresNullTerminator=*/false);
  auto parsed = llvm::parseBitcodeFile(buffer->getMemBufferRef(), context);
  if (!parsed)
    throw GeneratorError("could not read back the kernel's LLVM bitcode: " + llvm::toString(parsed.takeError()));
  std::string text;
  llvm::raw_string_ostream os(text);
  (*parsed)->print(os, nullptr);
  return text;
}

} // namespace sparsekgen
