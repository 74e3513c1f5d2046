// Layout of the multi-stage shared-memory ring that the pipelined kernels stream operands through.
// Shared by the legality rules (how many bytes) and the templates (where each stage lives).
#pragma once

#include "sparsekgen/generator/KernelSpec.h"

namespace sparsekgen {

// How an operand's tile sits in its ring stage. The MMA wants A as M x K and B as K x N; each
// operation stores a tile the way its global rows run, so copies stay contiguous:
//   forward      A rows = M (gathered points, K channels contiguous), B rows = K (W[k] rows, N contiguous)
//   input_grad   B rows = N: the weight is read transposed (W[k] is [Cin, Cout] and dgrad's K is Cout)
//   weight_grad  A rows = K: the pairs' input rows, whose channels are M, run along K
enum class TileRows { M, K, N };
struct OperandLayouts {
  TileRows a = TileRows::M; // M (K contiguous) or K (M contiguous)
  TileRows b = TileRows::K; // K (N contiguous) or N (K contiguous)
  bool aTransposed() const { return a == TileRows::K; }
  bool bTransposed() const { return b == TileRows::N; }
};
OperandLayouts operandLayouts(const KernelSpec &spec);

struct SharedRingLayout {
  // Each row is padded by 16 bytes so that the 8 row addresses of one ldmatrix (or the rows of
  // scalar fragment loads) fall in distinct bank groups; without it, rows 64 or 128 bytes apart conflict.
  static constexpr int kRowPadBytes = 16;

  OperandLayouts operands;
  int aRows = 0, aRowElements = 0; // A stage: CTA M rows of CTA K (+pad) elements, or K rows of M
  int bRows = 0, bRowElements = 0; // B stage: CTA K rows of CTA N (+pad) elements, or N rows of K
  int elementBytes = 2;
  int stages = 0;
  // Warpgroup-MMA kernels: unpadded tiles in the layout a TMA box with 128-byte swizzle writes (16-byte
  // chunk c of row r at chunk c ^ (r % 8)): A as CTA M rows of 64 K; B as CTA N / 64 boxes of 64 K
  // rows x 64 N, one after another (ring rows box * 64 + k). Each stage is a multiple of 1024 bytes,
  // the swizzle pattern's period.
  bool swizzled128 = false;

  // Dataflows with a masked offset schedule keep the CTA's active kernel offsets after the ring.
  int offsetListEntries = 0;

  int aStageBytes() const { return aRows * aRowElements * elementBytes; }
  int bStageBytes() const { return bRows * bRowElements * elementBytes; }
  int aRingBytes() const { return stages * aStageBytes(); }
  int ringBytes() const { return aRingBytes() + stages * bStageBytes(); }
  // Swizzled rings start at the first 1024-byte boundary of the block's shared memory (the pattern's
  // period, where the tensor cores' reads expect it to begin): up to this many bytes before them.
  static constexpr int kSwizzleAlignment = 1024;
  int alignmentSlack() const { return swizzled128 ? kSwizzleAlignment : 0; }
  int offsetListByte() const { return alignmentSlack() + ringBytes(); }
  int totalBytes() const { return offsetListByte() + offsetListEntries * 4; }
};

SharedRingLayout sharedRingLayout(const KernelSpec &spec);

} // namespace sparsekgen
