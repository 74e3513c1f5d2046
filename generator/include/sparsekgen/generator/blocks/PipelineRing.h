// Building block: the multi-stage shared-memory ring. Stages live in dynamic shared memory (so rings
// above 48 KB work); each stage is filled by one cp.async group, and a consumer waits until at most
// `pending` groups are still in flight.
#pragma once

#include "sparsekgen/generator/KernelBuilder.h"
#include "sparsekgen/generator/SharedRing.h"

namespace sparsekgen {

struct SharedRingViews {
  mlir::Value a; // memref<stages x aRows x aRowElements>, workgroup memory
  mlir::Value b; // memref<stages x bRows x bRowElements>, workgroup memory
};

SharedRingViews buildSharedRing(KernelBuilder &kb, const SharedRingLayout &layout, mlir::Type element);

// A view of type `viewType` over the rows of `ring` (a view buildSharedRing made) from row
// `firstRow` of `stage` on. It views the raw shared bytes rather than subviewing the ring (subviews
// need strided-metadata expansion to lower): the ring is itself a view of them at some byte shift.
mlir::Value ringRowsView(KernelBuilder &kb, mlir::Value ring, mlir::Value stage, mlir::Value firstRow,
                         mlir::MemRefType viewType);

// Closes the copies issued since the last group into one group; returns the group's token.
mlir::Value commitAsyncGroup(KernelBuilder &kb, mlir::ValueRange copyTokens);

// Blocks the thread until at most `pending` committed groups are still in flight.
void waitAsyncGroups(KernelBuilder &kb, mlir::Value groupToken, int pending);

} // namespace sparsekgen
