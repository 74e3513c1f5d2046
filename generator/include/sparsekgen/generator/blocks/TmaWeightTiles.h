// Building block: the weight tiles of warpgroup_mma_tma kernels, copied by the tensor memory
// accelerator. The runtime encodes a 3-D tensor map of W [volume, Cin, Cout] (innermost first:
// Cout, Cin, offset) with 64 x 64 x 1 boxes and 128-byte swizzle, so a box lands exactly as the
// cp.async path lays out one 64-column box of the B ring (WarpgroupMma.h). Out-of-range rows and
// columns (K past Cin, N past Cout) are zero-filled by the map, never read from a neighbour.
//
// One mbarrier per ring stage: thread 0 arms the stage's barrier with the bytes of its boxes and
// issues them; every thread waits for the barrier's phase before the stage's MMA. Step j is the
// (j / stages)-th use of stage j % stages, so its phase parity is (j / stages) % 2.
#pragma once

#include "sparsekgen/generator/KernelBuilder.h"

namespace sparsekgen {

// The map is fenced for the tensor-map proxy (fence.proxy.tensormap::generic.acquire), PTX 8.3.
constexpr int kTensorMapFencePtxVersion = 83;

struct TmaWeightTiles {
  mlir::Value barriers; // !nvgpu.mbarrier.group of `stages` barriers
  mlir::Value map;      // !nvgpu.tensormap.descriptor of W's 64 x 64 x 1 boxes
  int stages = 0;
};

// Creates and initialises the stage barriers (thread 0, which also fences and prefetches the map; a
// CTA barrier publishes them) and takes the tensor map from the kernel parameter `mapAddress` (a
// generic pointer to the CUtensorMap in global memory).
TmaWeightTiles createTmaWeightTiles(KernelBuilder &kb, mlir::Value mapAddress, int stages, mlir::Value thread,
                                    mlir::Type element);

// Where `issue` holds (thread 0 of a step that exists): arms `stage`'s barrier and copies the
// n / 64 boxes of W[offset][channel .. +64][column .. +n) into the B ring's `stage`.
void issueTmaWeightTile(KernelBuilder &kb, const TmaWeightTiles &tiles, mlir::Value ringB, mlir::Value stage,
                        mlir::Value column, mlir::Value channel, mlir::Value offset, int n, mlir::Value issue);

// Blocks until the weight tile of K step `kStep` has landed in its stage.
void waitTmaWeightTile(KernelBuilder &kb, const TmaWeightTiles &tiles, mlir::Value kStep);

} // namespace sparsekgen
