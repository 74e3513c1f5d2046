// Building block: one 16-byte cp.async from a gathered global row into shared memory. A row that
// does not exist (out_in_map = -1, a row past the end, channels past Cin) copies zero source bytes,
// which cp.async turns into zero-fill, so missing neighbours cost no branch and no extra store.
#pragma once

#include "sparsekgen/generator/KernelBuilder.h"

namespace sparsekgen {

constexpr int kAsyncCopyBytes = 16;

// `srcOffset` is read only when `valid`; otherwise the copy reads nothing from offset 0.
// Returns the async token of the copy.
mlir::Value gatheredAsyncCopy(KernelBuilder &kb, mlir::Value dst, mlir::ValueRange dstIndices, mlir::Value src,
                              mlir::Value srcOffset, mlir::Value valid, int elements);

} // namespace sparsekgen
