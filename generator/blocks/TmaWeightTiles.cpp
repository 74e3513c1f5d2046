#include "sparsekgen/generator/blocks/TmaWeightTiles.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "sparsekgen/generator/MmaShapes.h"
#include "sparsekgen/generator/blocks/PipelineRing.h"

namespace sparsekgen {

namespace {

constexpr int kBoxBytes = kWarpgroupK * kWarpgroupK * 2; // 64 x 64 16-bit elements
// How long a try_wait may suspend the thread before it polls again (a hint, in ns).
constexpr int64_t kWaitTicks = 10000000;

mlir::MemRefType boxType(KernelBuilder &kb, mlir::Type element) {
  return mlir::MemRefType::get({1, kWarpgroupK, kWarpgroupK}, element, mlir::MemRefLayoutAttrInterface{},
                               KernelBuilder::workgroupSpace(kb.b.getContext()));
}

mlir::nvgpu::MBarrierGroupType barrierType(KernelBuilder &kb, int stages) {
  return mlir::nvgpu::MBarrierGroupType::get(kb.b.getContext(), KernelBuilder::workgroupSpace(kb.b.getContext()),
                                             stages);
}

} // namespace

TmaWeightTiles createTmaWeightTiles(KernelBuilder &kb, mlir::Value mapAddress, int stages, mlir::Value thread,
                                    mlir::Type element) {
  auto &b = kb.b;
  auto *context = b.getContext();
  TmaWeightTiles tiles;
  tiles.stages = stages;
  auto mapType = mlir::nvgpu::TensorMapDescriptorType::get(
      context, boxType(kb, element), mlir::nvgpu::TensorMapSwizzleKind::SWIZZLE_128B,
      mlir::nvgpu::TensorMapL2PromoKind::L2PROMO_256B, mlir::nvgpu::TensorMapOOBKind::OOB_ZERO,
      mlir::nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
  tiles.map = mlir::UnrealizedConversionCastOp::create(b, mlir::TypeRange{mapType}, mlir::ValueRange{mapAddress})
                  .getResult(0);
  tiles.barriers = mlir::nvgpu::MBarrierCreateOp::create(b, barrierType(kb, stages));
  kb.ifThen(kb.equal(thread, kb.index(0)), [&] {
    // One arrival (thread 0's expect_tx) and the boxes' bytes complete a phase.
    for (int stage = 0; stage < stages; ++stage)
      mlir::nvgpu::MBarrierInitOp::create(b, tiles.barriers, kb.index(1), kb.index(stage), mlir::Value());
    // The map was written to global memory by a host copy (the generic proxy): fence it before the
    // tensor-map proxy of the TMA unit reads it.
    mlir::nvgpu::TmaFenceOp::create(b, tiles.map);
    mlir::nvgpu::TmaPrefetchOp::create(b, tiles.map, mlir::Value());
  });
  mlir::gpu::BarrierOp::create(b);
  return tiles;
}

void issueTmaWeightTile(KernelBuilder &kb, const TmaWeightTiles &tiles, mlir::Value ringB, mlir::Value stage,
                        mlir::Value column, mlir::Value channel, mlir::Value offset, int n, mlir::Value issue) {
  auto &b = kb.b;
  const int boxes = n / kWarpgroupK;
  kb.ifThen(issue, [&] {
    mlir::nvgpu::MBarrierArriveExpectTxOp::create(b, tiles.barriers, kb.index(boxes * kBoxBytes), stage,
                                                  mlir::Value());
    // The B ring holds box after box of 64 K rows x 128 bytes per stage (WarpgroupMma.h).
    const mlir::Type element = mlir::cast<mlir::MemRefType>(ringB.getType()).getElementType();
    for (int box = 0; box < boxes; ++box) {
      mlir::Value destination = ringRowsView(kb, ringB, stage, kb.index(box * kWarpgroupK), boxType(kb, element));
      // Coordinates innermost first: Cout column, Cin row, kernel offset.
      mlir::nvgpu::TmaAsyncLoadOp::create(b, destination, tiles.barriers, tiles.map,
                                          mlir::ValueRange{kb.add(column, kb.index(box * kWarpgroupK)), channel, offset},
                                          stage, mlir::Value(), mlir::Value());
    }
  });
}

void waitTmaWeightTile(KernelBuilder &kb, const TmaWeightTiles &tiles, mlir::Value kStep) {
  auto &b = kb.b;
  mlir::Value stage = kb.rem(kStep, tiles.stages);
  mlir::Value odd = kb.rem(kb.div(kStep, tiles.stages), 2);
  mlir::Value parity = mlir::arith::CmpIOp::create(b, mlir::arith::CmpIPredicate::ne, odd, kb.index(0));
  mlir::nvgpu::MBarrierTryWaitParityOp::create(b, tiles.barriers, parity, kb.index(kWaitTicks), stage);
}

} // namespace sparsekgen
