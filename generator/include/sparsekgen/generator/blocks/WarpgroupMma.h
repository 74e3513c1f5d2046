// Building block: Hopper warpgroup MMA (wgmma.mma_async m64nNk16, fp16 or bf16 operands, fp32
// accumulators; sm_90a) through the nvgpu dialect. Both operands are read from shared memory through
// matrix descriptors, so the ring holds them in the layouts a TMA box with 128-byte swizzle writes
// (SharedRingLayout::swizzled128), which nvgpu.warpgroup.generate.descriptor describes:
//   A, K-major: row m of a stage is 128 bytes (64 K elements); its 16-byte chunk c sits at chunk c ^ (m % 8).
//   B, N-major: CTA N / 64 boxes of 64 K rows x 64 N columns, box after box; row k's chunk c of a
//   box at chunk c ^ (k % 8). The MMA reads it transposed (transposeB).
// A warpgroup (4 warps) owns 64 rows of the CTA tile; warp w of it owns rows 16w..16w+15, and its
// accumulator registers are those of mma.sync's m16n8 tiles across N, so the stores and epilogues of
// the warp-MMA kernels take them unchanged (warpgroupFragments).
#pragma once

#include "sparsekgen/generator/KernelBuilder.h"
#include "sparsekgen/generator/MmaShapes.h"

namespace sparsekgen {

// Ring indices {stage, ring row, ring column} of the 16-byte chunk holding tile element (row, col)
// (col a multiple of 8) of operand A (row m, col k) or B (row k, col n) in the swizzled layout.
llvm::SmallVector<mlir::Value> swizzledChunkIndices(KernelBuilder &kb, bool operandB, mlir::Value stage,
                                                    mlir::Value row, mlir::Value col);

// This thread's share of a warpgroup's 64 x n accumulator, zero.
mlir::Value zeroWarpgroupAccumulator(KernelBuilder &kb, int n);

// Makes this thread's shared-memory writes (cp.async copies that have landed) visible to the tensor
// cores' async proxy, which the warpgroup MMA reads through: fence.proxy.async.shared::cta. A barrier
// after it orders every thread's writes before the MMA.
void fenceSharedForWarpgroupMma(KernelBuilder &kb);

// acc += A[warpgroupRow .. +64, 0:64) * B[0:64, 0:n) of ring stage `stage`: four wgmma.mma_async
// m64nNk16 in one commit group, then a wait until at most one group is pending: this step's may
// still run (and read `stage`), the previous step's has completed. So a stage may be refilled only
// two steps after its MMA was issued (the main loop loads S - 2 stages ahead).
mlir::Value warpgroupMmaStage(KernelBuilder &kb, mlir::Value ringA, mlir::Value ringB, mlir::Value stage,
                              mlir::Value warpgroupRow, int n, mlir::Value acc);

// Waits until every warpgroup MMA of this thread has completed (before its accumulators are read).
void waitAllWarpgroupMma(KernelBuilder &kb);

// The accumulator as this warp's m16n8 fragments (vector<2x2xf32>: rows lane/4 and +8, columns
// 2 (lane % 4) and +1), n / 8 of them in column order.
llvm::SmallVector<mlir::Value> warpgroupFragments(KernelBuilder &kb, mlir::Value acc, int n);

} // namespace sparsekgen
