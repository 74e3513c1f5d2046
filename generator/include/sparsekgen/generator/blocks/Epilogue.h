// Building block: the store of accumulator fragments to the output tensor, predicated on rows past
// the number of outputs and columns past Cout, converting fp32 accumulators to the output type.
#pragma once

#include "sparsekgen/generator/KernelBuilder.h"

namespace sparsekgen {

struct OutputTensor {
  mlir::Value buffer;      // global 1-D buffer, row-major [rows, rowStride]
  mlir::Value rows;        // index: rows that exist
  mlir::Value columns;     // index: columns that exist (Cout)
  mlir::Value rowStride;   // index
  mlir::Type element;      // output element type
};

// Stores the m16n8 accumulator `acc` whose tile corner is (row0, col0) in output coordinates.
void storeAccumulatorFragment(KernelBuilder &kb, const OutputTensor &out, mlir::Value acc, mlir::Value row0,
                              mlir::Value col0, mlir::Value lane);

} // namespace sparsekgen
