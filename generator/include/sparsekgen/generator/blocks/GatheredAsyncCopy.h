// Building block: one copy of `elements` consecutive 16-bit elements from a gathered global row
// into shared memory. A row that does not exist (out_in_map = -1, a row past the end, channels
// past Cin) copies zero source bytes, which cp.async turns into zero-fill, so missing neighbours
// cost no branch. 8 elements use cp.async.cg (16 bytes, bypassing L1); 4 and 2 use cp.async.ca (8
// and 4 bytes); a single element, which cp.async cannot copy, is a load and a store.
#pragma once

#include <optional>

#include "sparsekgen/generator/KernelBuilder.h"

namespace sparsekgen {

constexpr int kAsyncCopyBytes = 16;

// Whether copies of `elements` 16-bit elements are asynchronous (cp.async) or plain loads.
constexpr bool isAsyncCopy(int elements) { return elements >= 2; }

// `srcOffset` is read only when `valid`. Returns the copy's async token (cp.async), or nullopt for
// the synchronous single-element copy.
std::optional<mlir::Value> gatheredCopy(KernelBuilder &kb, mlir::Value dst, mlir::ValueRange dstIndices,
                                        mlir::Value src, mlir::Value srcOffset, mlir::Value valid, int elements);

} // namespace sparsekgen
