#include "sparsekgen/generator/blocks/Epilogue.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "sparsekgen/generator/blocks/WarpMma.h"

namespace sparsekgen {

void storeAccumulatorFragment(KernelBuilder &kb, const OutputTensor &out, mlir::Value acc, mlir::Value row0,
                              mlir::Value col0, mlir::Value lane) {
  auto &b = kb.b;
  mlir::Value col = kb.add(col0, accumulatorColumn(kb, lane));
  // Cout is a multiple of 8 and col is even, so the pair (col, col + 1) is in or out together.
  mlir::Value colInside = kb.lessThan(col, out.columns);
  mlir::Value firstRow = kb.add(row0, accumulatorRow(kb, lane));
  auto pairType = mlir::VectorType::get({2}, out.element);
  for (int64_t half = 0; half < 2; ++half) {
    mlir::Value row = kb.add(firstRow, 8 * half);
    mlir::Value inside = kb.both(colInside, kb.lessThan(row, out.rows));
    mlir::Value pair = mlir::vector::ExtractOp::create(b, acc, half);
    mlir::Value converted = mlir::arith::TruncFOp::create(b, pairType, pair);
    kb.ifThen(inside, [&] {
      mlir::Value offset = kb.add(kb.mul(row, out.rowStride), col);
      mlir::vector::StoreOp::create(b, converted, out.buffer, mlir::ValueRange{offset}, /*nontemporal=*/false,
                                    llvm::MaybeAlign(4));
    });
  }
}

} // namespace sparsekgen
