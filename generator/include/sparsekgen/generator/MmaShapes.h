// The warp MMA shapes the templates use, for the legality rules (no MLIR) and the MMA blocks alike.
#pragma once

namespace sparsekgen {

// mma.sync m16n8k16 for fp16 and bf16 operands (the fp32 FMA path keeps the same fragment tiling).
constexpr int kMmaM = 16, kMmaN = 8, kMmaK = 16;
// mma.sync m16n8k8 for tf32 operands.
constexpr int kTf32MmaK = 8;
// B fragments load 16 columns at a time (ldmatrix.x4.trans: two m16n8 tiles), so warp tile N is a
// multiple of this.
constexpr int kWarpNGranule = 2 * kMmaN;
// Warpgroup MMA (wgmma.mma_async): a warpgroup (4 warps) computes 64 rows; a 16-bit operand's
// 128-byte swizzle row holds 64 elements of K (and a B box 64 columns of N); N is at most 256.
constexpr int kWarpgroupM = 64, kWarpgroupK = 64, kWarpgroupMaxN = 256, kWarpgroupThreads = 128;
// Registers a warpgroup-MMA thread needs besides its accumulators (addresses, loop state), for the
// legality rule that keeps a tile within ptxas's per-thread limit.
constexpr int kWarpgroupRegisterOverhead = 48;

// fp32 accumulators per thread of one m16n8 tile (128 values over 32 lanes).
constexpr int kAccumulatorsPerMmaTile = kMmaM * kMmaN / 32;

} // namespace sparsekgen
