// Building block: the end of a kernel. Fused epilogue operations (bias, folded batch norm, ReLU,
// residual add) applied in fp32 to accumulator values, then the conversion to the output type and
// a store predicated on rows that exist and columns below Cout.
#pragma once

#include <functional>
#include <vector>

#include "sparsekgen/generator/KernelBuilder.h"
#include "sparsekgen/generator/KernelSpec.h"
#include "sparsekgen/generator/LaunchAbi.h"

namespace sparsekgen {

struct OutputTensor {
  mlir::Value buffer;    // global 1-D buffer, row-major [rows, rowStride]
  mlir::Value columns;   // index: columns that exist (Cout)
  mlir::Value rowStride; // index
};

struct EpilogueOperands {
  std::vector<EpilogueOp> ops;          // in the order they apply
  mlir::Value bias, scale, shift;       // f32 [Cout], for the ops that need them
  mlir::Value residual;                 // [rows, Cout] in the output type

  EpilogueOperands() = default;
  // The operands of `ops` from the kernel arguments named as epilogueParameters names them
  // (`named` returns a null value for a parameter the kernel lacks).
  EpilogueOperands(std::vector<EpilogueOp> ops, const std::function<mlir::Value(const char *)> &named);
};

// The epilogue's kernel parameters, in launch order: bias f32*, scale f32*, shift f32*, residual
// (those the ops use; their names bind EpilogueOperands).
std::vector<KernelParameter> epilogueParameters(const std::vector<EpilogueOp> &ops, skg_parameter_type residualType);

// `values` (vector<W x f32>) of output row `row`, columns col .. col + W - 1 (all below Cout):
// applies the operations and stores them converted to the buffer's element type.
void storeWithEpilogue(KernelBuilder &kb, const OutputTensor &out, const EpilogueOperands &epilogue,
                       mlir::Value values, mlir::Value row, mlir::Value col);

// Stores the m16n8 accumulator `acc` whose tile corner is (tileRow0, col0). Tile rows at or past
// `tileRows` do not exist; `outputRow` maps an existing tile row to its row in `out` (identity, or
// a sort permutation). `width` is 2 when Cout is even (paired stores), else 1.
void storeAccumulatorFragment(KernelBuilder &kb, const OutputTensor &out, const EpilogueOperands &epilogue,
                              mlir::Value acc, mlir::Value tileRow0, mlir::Value col0, mlir::Value lane,
                              mlir::Value tileRows, const std::function<mlir::Value(mlir::Value)> &outputRow,
                              int width);

// Adds the m16n8 accumulator `acc` to the fp32 tensor `out` with atomic adds (several CTAs add
// to the same rows): tile row r (< tileRows) goes to row outputRow(r), multiplied first by the f32
// rowScale(r) where rowScale is given. Columns are checked one by one, so any Cout works.
void accumulateFragmentAtomically(KernelBuilder &kb, const OutputTensor &out, mlir::Value acc, mlir::Value tileRow0,
                                  mlir::Value col0, mlir::Value lane, mlir::Value tileRows,
                                  const std::function<mlir::Value(mlir::Value)> &outputRow,
                                  const std::function<mlir::Value(mlir::Value)> &rowScale = nullptr);

} // namespace sparsekgen
