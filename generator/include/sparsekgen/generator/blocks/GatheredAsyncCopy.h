// Building block: one copy of `elements` consecutive elements from a gathered global row into
// shared memory. A row that does not exist (out_in_map = -1, a row past the end, channels past
// Cin) copies zero source bytes, which cp.async turns into zero-fill, so missing neighbours cost no
// branch. 16 bytes use cp.async.cg (bypassing L1); 8 and 4 bytes use cp.async.ca; a single 16-bit
// element, which cp.async cannot copy, is a load and a store.
#pragma once

#include <optional>

#include "sparsekgen/generator/KernelBuilder.h"

namespace sparsekgen {

constexpr int kAsyncCopyBytes = 16;

// Whether copies of `elements` elements of `elementBytes` each are asynchronous (cp.async, 4 to 16
// bytes) or plain loads.
constexpr bool isAsyncCopy(int elements, int elementBytes) { return elements * elementBytes >= 4; }

// `srcOffset` is read only when `valid`. Returns the copy's async token (cp.async), or nullopt for
// the synchronous single-element copy.
std::optional<mlir::Value> gatheredCopy(KernelBuilder &kb, mlir::Value dst, mlir::ValueRange dstIndices,
                                        mlir::Value src, mlir::Value srcOffset, mlir::Value valid, int elements);

} // namespace sparsekgen
