// mlir-opt with the generator's dialects and lowering pass, for lit tests on IR.
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"

#include "sparsekgen/generator/Lowering.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  sparsekgen::registerGeneratorDialects(registry);
  mlir::registerTransformsPasses();
  mlir::registerConversionPasses();
  mlir::registerGPUPasses();
  sparsekgen::registerLoweringPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "sparsekgen optimizer driver\n", registry));
}
