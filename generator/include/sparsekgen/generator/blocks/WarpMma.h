// Building block: warp-level tensor-core math with mma.sync.m16n8k16 (fp16 or bf16 operands, fp32
// accumulators). Fragments come from shared memory through ldmatrix; this file owns the lane-to-
// address mapping of both operands so templates only name tile corners. Fragments take the ring's
// element type; ldmatrix moves bits, so the same loads serve fp16 and bf16.
#pragma once

#include <array>

#include "sparsekgen/generator/KernelBuilder.h"
#include "sparsekgen/generator/KernelSpec.h"
#include "sparsekgen/generator/MmaShapes.h"
#include "sparsekgen/generator/SharedRing.h"

namespace sparsekgen {

// A fragment of the 16x16 A tile at rows row0.., K k0..: one ldmatrix.x4 from a ring stored M x K
// (K contiguous), or one ldmatrix.x4.trans from a ring stored K x M (`layout` TileRows::K).
mlir::Value loadAFragment(KernelBuilder &kb, TileRows layout, mlir::Value ring, mlir::Value stage, mlir::Value row0,
                          mlir::Value k0, mlir::Value lane);

// B fragments of two adjacent 16x8 tiles at K k0.., columns col0..: one ldmatrix.x4.trans from a
// ring stored K x N (N contiguous), or one ldmatrix.x4 from a ring stored N x K (`layout`
// TileRows::N), split into the two mma operands.
std::array<mlir::Value, 2> loadBFragmentPair(KernelBuilder &kb, TileRows layout, mlir::Value ring, mlir::Value stage,
                                             mlir::Value k0, mlir::Value col0, mlir::Value lane);

mlir::Value zeroAccumulator(KernelBuilder &kb);

// acc + a * b on one m16n8k16 tile; fp16 through nvgpu.mma.sync, bf16 through nvvm.mma.sync (the
// nvgpu lowering has no bf16 case).
mlir::Value mmaSync(KernelBuilder &kb, mlir::Value a, mlir::Value b, mlir::Value acc);

// One stage of the pipeline: every m16n8 accumulator of the warp tile whose corner is
// (warpRow, warpCol) += A[rows, 0:ctaK) * B[0:ctaK, cols) from ring stage `stage`. TensorCore:
// ldmatrix + mma.sync m16n8k16 (fp16, bf16). Tf32: scalar fragment loads (ldmatrix moves 16-bit
// halves, which cannot form tf32 B fragments) + mma.sync m16n8k8 with tf32 operands. Ffma: exact
// fp32 outer products into the same accumulator layout, so the stores and epilogues are shared.
// `layouts` say how each operand's tile sits in its ring (SharedRing.h).
void accumulateStage(KernelBuilder &kb, MathMode math, OperandLayouts layouts, mlir::Value ringA, mlir::Value ringB, mlir::Value stage,
                     int ctaK, mlir::Value warpRow, mlir::Value warpCol, int mmaRows, int mmaCols, mlir::Value lane,
                     llvm::SmallVector<mlir::Value> &accumulators);

// Where a lane's accumulator elements sit in the 16x8 tile: element pair h (0 or 1) of the lane is
// at row accumulatorRow(lane) + 8h, columns accumulatorColumn(lane) and +1.
mlir::Value accumulatorRow(KernelBuilder &kb, mlir::Value lane);
mlir::Value accumulatorColumn(KernelBuilder &kb, mlir::Value lane);

} // namespace sparsekgen
