#include "sparsekgen/generator/blocks/WarpgroupMma.h"

#include "sparsekgen/generator/blocks/PipelineRing.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace sparsekgen {

namespace {

constexpr int kChunkElements = 8; // 16 bytes of a 16-bit type
constexpr int kSwizzleRows = 8;   // the XOR pattern repeats every 8 rows (1024 bytes)

mlir::Type elementOf(mlir::Value memref) { return mlir::cast<mlir::MemRefType>(memref.getType()).getElementType(); }

// Memory space 3 (shared), as the nvgpu descriptor types spell it.
mlir::MemRefType sharedTile(KernelBuilder &kb, int64_t rows, int64_t columns, mlir::Type element) {
  return mlir::MemRefType::get({rows, columns}, element, mlir::MemRefLayoutAttrInterface{},
                               kb.b.getI64IntegerAttr(3));
}

// The descriptor of a 2-D tile of `ring` starting at ring row `firstRow` of `stage`, rows x 64, in
// the 128-byte swizzle layout whose TMA box is `box` (rows x 64): generate.descriptor reads the
// swizzle and the box's row count (the distance between B's N boxes) from the tensor-map type; the
// map value itself is never read, so a null pointer stands for it.
mlir::Value tileDescriptor(KernelBuilder &kb, mlir::Value ring, mlir::Value stage, mlir::Value firstRow,
                           int64_t rows, mlir::MemRefType described, int64_t boxRows) {
  auto &b = kb.b;
  auto *context = b.getContext();
  auto ringType = mlir::cast<mlir::MemRefType>(ring.getType());
  auto tileType = mlir::MemRefType::get({rows, ringType.getDimSize(2)}, ringType.getElementType(),
                                        mlir::MemRefLayoutAttrInterface{}, ringType.getMemorySpace());
  mlir::Value tile = ringRowsView(kb, ring, stage, firstRow, tileType);
  auto mapType = mlir::nvgpu::TensorMapDescriptorType::get(
      context, sharedTile(kb, boxRows, kWarpgroupK, elementOf(ring)), mlir::nvgpu::TensorMapSwizzleKind::SWIZZLE_128B,
      mlir::nvgpu::TensorMapL2PromoKind::L2PROMO_NONE, mlir::nvgpu::TensorMapOOBKind::OOB_ZERO,
      mlir::nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
  mlir::Value null = mlir::LLVM::ZeroOp::create(b, mlir::LLVM::LLVMPointerType::get(context));
  mlir::Value map = mlir::UnrealizedConversionCastOp::create(b, mlir::TypeRange{mapType}, mlir::ValueRange{null})
                        .getResult(0);
  auto descriptorType = mlir::nvgpu::WarpgroupMatrixDescriptorType::get(context, described);
  return mlir::nvgpu::WarpgroupGenerateDescriptorOp::create(b, descriptorType, tile, map);
}

mlir::nvgpu::WarpgroupAccumulatorType accumulatorType(KernelBuilder &kb, int n) {
  return mlir::nvgpu::WarpgroupAccumulatorType::get(
      kb.b.getContext(), mlir::VectorType::get({kWarpgroupM, n}, kb.b.getF32Type()));
}

} // namespace

llvm::SmallVector<mlir::Value> swizzledChunkIndices(KernelBuilder &kb, bool operandB, mlir::Value stage,
                                                    mlir::Value row, mlir::Value col) {
  auto swizzle = [&](mlir::Value chunkOfRow, mlir::Value rowInPattern) {
    return kb.mul(mlir::arith::XOrIOp::create(kb.b, chunkOfRow, rowInPattern), kChunkElements);
  };
  if (!operandB) // A: (m, k)
    return {stage, row, swizzle(kb.div(col, kChunkElements), kb.rem(row, kSwizzleRows))};
  // B: (k, n) in box n / 64, at ring row box * 64 + k.
  mlir::Value box = kb.div(col, kWarpgroupK);
  mlir::Value chunk = kb.div(kb.rem(col, kWarpgroupK), kChunkElements);
  return {stage, kb.add(kb.mul(box, kWarpgroupK), row), swizzle(chunk, kb.rem(row, kSwizzleRows))};
}

mlir::Value zeroWarpgroupAccumulator(KernelBuilder &kb, int n) {
  return mlir::nvgpu::WarpgroupMmaInitAccumulatorOp::create(kb.b, accumulatorType(kb, n));
}

void fenceSharedForWarpgroupMma(KernelBuilder &kb) {
  auto *context = kb.b.getContext();
  mlir::NVVM::FenceProxyOp::create(kb.b, mlir::NVVM::ProxyKindAttr::get(context, mlir::NVVM::ProxyKind::async_shared),
                                   mlir::NVVM::SharedSpaceAttr::get(context, mlir::NVVM::SharedSpace::shared_cta));
}

mlir::Value warpgroupMmaStage(KernelBuilder &kb, mlir::Value ringA, mlir::Value ringB, mlir::Value stage,
                              mlir::Value warpgroupRow, int n, mlir::Value acc) {
  const mlir::Type element = elementOf(ringA);
  mlir::Value a = tileDescriptor(kb, ringA, stage, warpgroupRow, kWarpgroupM,
                                 sharedTile(kb, kWarpgroupM, kWarpgroupK, element), kWarpgroupM);
  // B's ring rows are its boxes' K rows one after another: n / 64 boxes of 64.
  mlir::Value b = tileDescriptor(kb, ringB, stage, kb.index(0), n / kWarpgroupK * kWarpgroupK,
                                 sharedTile(kb, kWarpgroupK, n, element), kWarpgroupK);
  return mlir::nvgpu::WarpgroupMmaOp::create(kb.b, accumulatorType(kb, n), a, b, /*waitGroup=*/uint64_t{1},
                                             /*transposeA=*/mlir::UnitAttr(), /*transposeB=*/kb.b.getUnitAttr(), acc);
}

void waitAllWarpgroupMma(KernelBuilder &kb) { mlir::NVVM::WgmmaWaitGroupSyncOp::create(kb.b, uint64_t{0}); }

llvm::SmallVector<mlir::Value> warpgroupFragments(KernelBuilder &kb, mlir::Value acc, int n) {
  auto &b = kb.b;
  auto *context = b.getContext();
  // The accumulator's registers: one inner struct (64 rows) of n / 2 f32 values, as the nvgpu
  // lowering lays them out; register 4j + 2h + e is row lane/4 + 8h, column 8j + 2 (lane % 4) + e.
  llvm::SmallVector<mlir::Type> registers(n / 2, b.getF32Type());
  auto inner = mlir::LLVM::LLVMStructType::getLiteral(context, registers);
  auto outer = mlir::LLVM::LLVMStructType::getLiteral(context, {inner});
  mlir::Value values =
      mlir::UnrealizedConversionCastOp::create(b, mlir::TypeRange{outer}, mlir::ValueRange{acc}).getResult(0);
  auto fragmentType = mlir::VectorType::get({2, 2}, b.getF32Type());
  llvm::SmallVector<mlir::Value> fragments;
  for (int j = 0; j < n / kMmaN; ++j) {
    mlir::Value fragment = mlir::ub::PoisonOp::create(b, fragmentType);
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t e = 0; e < 2; ++e) {
        mlir::Value value = mlir::LLVM::ExtractValueOp::create(b, values, llvm::ArrayRef<int64_t>{0, 4 * j + 2 * h + e});
        fragment = mlir::vector::InsertOp::create(b, value, fragment, llvm::ArrayRef<int64_t>{h, e});
      }
    fragments.push_back(fragment);
  }
  return fragments;
}

} // namespace sparsekgen
