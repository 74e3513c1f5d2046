#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/LoweringOptions.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVGPUToNVVM/NVGPUToNVVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVM.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "sparsekgen/generator/KernelBuilder.h"
#include "sparsekgen/generator/Lowering.h"

namespace sparsekgen {

namespace {

// The upstream passes each build their own type converter; run one after another they disagree on
// the index width and leave casts between memref descriptors that no pass can remove. One
// conversion with one converter avoids that.
struct LowerKernelToNVVMPass : mlir::PassWrapper<LowerKernelToNVVMPass, mlir::OperationPass<mlir::gpu::GPUModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(LowerKernelToNVVMPass)

  llvm::StringRef getArgument() const override { return "sparsekgen-lower-to-nvvm"; }
  llvm::StringRef getDescription() const override {
    return "Lower a sparsekgen kernel (nvgpu/gpu/vector/memref/arith/cf) to NVVM with the index width its "
           "gpu.module names (sparsekgen.index_bits, 32 when absent)";
  }
  void getDependentDialects(mlir::DialectRegistry &registry) const override {
    registry.insert<mlir::LLVM::LLVMDialect, mlir::NVVM::NVVMDialect>();
  }

  void runOnOperation() override {
    auto module = getOperation();
    auto *context = &getContext();
    {
      // Canonicalization folds register moves into n-D vector.from_elements, which has no direct
      // LLVM lowering; unroll those to 1-D first.
      mlir::RewritePatternSet unroll(context);
      mlir::vector::populateVectorFromElementsUnrollPatterns(unroll);
      mlir::vector::populateVectorToElementsUnrollPatterns(unroll);
      if (failed(mlir::applyPatternsGreedily(module, std::move(unroll))))
        return signalPassFailure();
    }
    mlir::LowerToLLVMOptions options(context, mlir::DataLayout(module));
    // 32-bit address arithmetic takes a third fewer registers than 64-bit; such kernels reach
    // kGlobalBufferExtent32 elements, which the runtime checks. 64-bit kernels serve the rest.
    unsigned indexBits = 32;
    if (auto attribute = module->getAttrOfType<mlir::IntegerAttr>(kIndexBitsAttribute)) {
      indexBits = static_cast<unsigned>(attribute.getInt());
      if (indexBits != 32 && indexBits != 64) {
        module.emitError() << kIndexBitsAttribute << " must be 32 or 64, not " << attribute.getInt();
        return signalPassFailure();
      }
    }
    options.overrideIndexBitwidth(indexBits);
    options.useBarePtrCallConv = true;
    mlir::LLVMTypeConverter converter(context, options);
    mlir::configureGpuToNVVMTypeConverter(converter);
    converter.addConversion([&](mlir::nvgpu::DeviceAsyncTokenType type) -> mlir::Type {
      // Async tokens only order copies in the IR; nothing of them exists at run time.
      return converter.convertType(mlir::IntegerType::get(type.getContext(), 32));
    });
    // The warpgroup-MMA types, as the upstream NVGPU-to-NVVM pass converts them: an accumulator of
    // 64 x N f32 per warpgroup is one struct per 64 rows of N / 2 registers; a matrix descriptor is
    // the i64 wgmma reads; a tensor map is a pointer.
    converter.addConversion([&](mlir::nvgpu::WarpgroupAccumulatorType type) -> mlir::Type {
      mlir::VectorType fragmented = type.getFragmented();
      llvm::SmallVector<mlir::Type> registers(fragmented.getDimSize(1) / 2, fragmented.getElementType());
      auto rows = mlir::LLVM::LLVMStructType::getLiteral(type.getContext(), registers);
      llvm::SmallVector<mlir::Type> blocks(fragmented.getDimSize(0) / 64, rows);
      return mlir::LLVM::LLVMStructType::getLiteral(type.getContext(), blocks);
    });
    converter.addConversion([&](mlir::nvgpu::WarpgroupMatrixDescriptorType type) -> mlir::Type {
      return mlir::IntegerType::get(type.getContext(), 64);
    });
    converter.addConversion([&](mlir::nvgpu::TensorMapDescriptorType type) -> mlir::Type {
      return mlir::LLVM::LLVMPointerType::get(type.getContext());
    });
    // mbarriers (warpgroup_mma_tma's stage barriers), as upstream converts them: a group is a
    // shared-memory memref of i64 barriers, a token an i64.
    converter.addConversion([&](mlir::nvgpu::MBarrierGroupType type) -> mlir::Type {
      return converter.convertType(mlir::nvgpu::getMBarrierMemrefType(type.getContext(), type));
    });
    converter.addConversion([&](mlir::nvgpu::MBarrierTokenType type) -> mlir::Type {
      return converter.convertType(mlir::IntegerType::get(type.getContext(), 64));
    });

    mlir::RewritePatternSet patterns(context);
    mlir::populateNVGPUToNVVMConversionPatterns(converter, patterns);
    mlir::populateGpuToNVVMConversionPatterns(converter, patterns);
    mlir::arith::populateArithToLLVMConversionPatterns(converter, patterns);
    mlir::cf::populateControlFlowToLLVMConversionPatterns(converter, patterns);
    mlir::populateFinalizeMemRefToLLVMConversionPatterns(converter, patterns);
    mlir::populateVectorToLLVMConversionPatterns(converter, patterns);
    mlir::index::populateIndexToLLVMConversionPatterns(converter, patterns);
    mlir::ub::populateUBToLLVMConversionPatterns(converter, patterns);

    mlir::LLVMConversionTarget target(*context);
    mlir::configureGpuToNVVMConversionLegality(target);
    target.addIllegalDialect<mlir::nvgpu::NVGPUDialect>();
    if (failed(mlir::applyPartialConversion(module, target, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

std::unique_ptr<mlir::Pass> createLowerKernelToNVVMPass() { return std::make_unique<LowerKernelToNVVMPass>(); }

void registerLoweringPasses() { mlir::PassRegistration<LowerKernelToNVVMPass>(); }

} // namespace sparsekgen
