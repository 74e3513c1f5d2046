// From a kernel module (gpu.module of upstream dialects) to LLVM IR, PTX and, through ptxas, cubin.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace sparsekgen {

// Every dialect, interface and translation the generator's modules pass through.
void registerGeneratorDialects(mlir::DialectRegistry &registry);

// One conversion of everything inside gpu.modules (nvgpu, gpu, arith, cf, memref, vector, index)
// to the NVVM and LLVM dialects, with 32-bit indices and bare-pointer kernel arguments.
std::unique_ptr<mlir::Pass> createLowerKernelToNVVMPass();
void registerLoweringPasses(); // "sparsekgen-lower-to-nvvm" for sparsekgen-opt

// Adds the passes from generator IR to the LLVM dialect, targeting sm_<sm>.
// `archSpecific`: sm_<sm>a (the gpu.module carries kArchSpecificAttribute). `ptxVersion` (e.g. 83):
// the PTX ISA the module needs (kPtxVersionAttribute); 0 lets NVVM pick the chip's lowest.
void buildLowerToLLVMDialectPipeline(mlir::OpPassManager &pm, int sm, bool archSpecific = false, int ptxVersion = 0);

// Each of these lowers a copy of `module`; failures throw GeneratorError with MLIR's diagnostics.
std::string lowerToLLVMIR(mlir::ModuleOp module, int sm);
std::string lowerToPtx(mlir::ModuleOp module, int sm);

struct PtxasReport {
  int registers = 0;
  int sharedBytes = 0;      // static shared memory (dynamic comes from the launch ABI)
  int spillStoreBytes = 0;
  int spillLoadBytes = 0;
  int stackFrameBytes = 0;
};

struct Cubin {
  std::vector<char> image;
  std::map<std::string, PtxasReport> functions; // per entry function of the image
};

// The ptxas to use: $SPARSEKGEN_PTXAS, $CUDA_HOME/bin/ptxas, /usr/local/cuda/bin/ptxas, or PATH.
std::optional<std::string> findPtxas();

// How long one ptxas run may take before it is killed: the default catalog's slowest kernel
// assembles in seconds; a run past this is a hung or pathological assembly, not a slow one.
constexpr unsigned kDefaultPtxasTimeoutSeconds = 300;

// Assembles PTX for sm_<sm>; throws GeneratorError with ptxas's messages on failure or when it runs
// past `timeoutSeconds` (then it is killed), Interrupted when a signal asks the run to stop (also
// killing it). Its temporary files are removed in every case.
Cubin assemblePtx(const std::string &ptxas, const std::string &ptx, int sm, const std::string &kernelName,
                  unsigned timeoutSeconds = kDefaultPtxasTimeoutSeconds);

// Parses `ptxas -v` output: one report per entry function.
std::map<std::string, PtxasReport> parsePtxasReport(const std::string &verboseOutput);

} // namespace sparsekgen
