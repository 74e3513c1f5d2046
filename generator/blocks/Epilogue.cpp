#include "sparsekgen/generator/blocks/Epilogue.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "sparsekgen/generator/blocks/WarpMma.h"

namespace sparsekgen {

namespace {

bool has(const std::vector<EpilogueOp> &ops, EpilogueOp op) {
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

mlir::Value loadVector(KernelBuilder &kb, mlir::Value buffer, mlir::Value offset, int64_t width) {
  auto element = mlir::cast<mlir::MemRefType>(buffer.getType()).getElementType();
  auto type = mlir::VectorType::get({width}, element);
  unsigned bytes = element.getIntOrFloatBitWidth() / 8 * width;
  return mlir::vector::LoadOp::create(kb.b, type, buffer, mlir::ValueRange{offset}, /*nontemporal=*/false,
                                      llvm::MaybeAlign(bytes));
}

mlir::Value toF32(KernelBuilder &kb, mlir::Value values) {
  auto type = mlir::cast<mlir::VectorType>(values.getType());
  if (type.getElementType().isF32())
    return values;
  return mlir::arith::ExtFOp::create(kb.b, mlir::VectorType::get(type.getShape(), kb.b.getF32Type()), values);
}

} // namespace

std::vector<KernelParameter> epilogueParameters(const std::vector<EpilogueOp> &ops, skg_parameter_type residualType) {
  std::vector<KernelParameter> parameters;
  if (has(ops, EpilogueOp::Bias))
    parameters.push_back({"bias", SKG_PARAMETER_F32_BUFFER, SKG_ROLE_READ});
  if (has(ops, EpilogueOp::ScaleShift)) {
    parameters.push_back({"scale", SKG_PARAMETER_F32_BUFFER, SKG_ROLE_READ});
    parameters.push_back({"shift", SKG_PARAMETER_F32_BUFFER, SKG_ROLE_READ});
  }
  if (has(ops, EpilogueOp::ResidualAdd))
    parameters.push_back({"residual", residualType, SKG_ROLE_READ});
  return parameters;
}

EpilogueOperands::EpilogueOperands(std::vector<EpilogueOp> ops, const std::function<mlir::Value(const char *)> &named)
    : ops(std::move(ops)), bias(named("bias")), scale(named("scale")), shift(named("shift")),
      residual(named("residual")) {}

void storeWithEpilogue(KernelBuilder &kb, const OutputTensor &out, const EpilogueOperands &epilogue,
                       mlir::Value values, mlir::Value row, mlir::Value col) {
  auto &b = kb.b;
  auto type = mlir::cast<mlir::VectorType>(values.getType());
  int64_t width = type.getDimSize(0);
  mlir::Value offset = kb.add(kb.mul(row, out.rowStride), col);
  for (EpilogueOp op : epilogue.ops) {
    switch (op) {
    case EpilogueOp::Bias:
      values = mlir::arith::AddFOp::create(b, values, loadVector(kb, epilogue.bias, col, width));
      break;
    case EpilogueOp::ScaleShift:
      values = mlir::arith::MulFOp::create(b, values, loadVector(kb, epilogue.scale, col, width));
      values = mlir::arith::AddFOp::create(b, values, loadVector(kb, epilogue.shift, col, width));
      break;
    case EpilogueOp::Relu: {
      mlir::Value zero = mlir::arith::ConstantOp::create(b, type, mlir::DenseElementsAttr::get(type, 0.0f));
      values = mlir::arith::MaximumFOp::create(b, values, zero);
      break;
    }
    case EpilogueOp::ResidualAdd:
      values = mlir::arith::AddFOp::create(b, values, toF32(kb, loadVector(kb, epilogue.residual, offset, width)));
      break;
    }
  }
  auto element = mlir::cast<mlir::MemRefType>(out.buffer.getType()).getElementType();
  mlir::Value converted = values;
  if (!element.isF32())
    converted = mlir::arith::TruncFOp::create(b, mlir::VectorType::get({width}, element), values);
  unsigned bytes = element.getIntOrFloatBitWidth() / 8 * width;
  mlir::vector::StoreOp::create(b, converted, out.buffer, mlir::ValueRange{offset}, /*nontemporal=*/false,
                                llvm::MaybeAlign(bytes));
}

void storeAccumulatorFragment(KernelBuilder &kb, const OutputTensor &out, const EpilogueOperands &epilogue,
                              mlir::Value acc, mlir::Value tileRow0, mlir::Value col0, mlir::Value lane,
                              mlir::Value tileRows, const std::function<mlir::Value(mlir::Value)> &outputRow,
                              int width) {
  auto &b = kb.b;
  mlir::Value col = kb.add(col0, accumulatorColumn(kb, lane));
  mlir::Value firstRow = kb.add(tileRow0, accumulatorRow(kb, lane));
  for (int64_t half = 0; half < 2; ++half) {
    mlir::Value tileRow = kb.add(firstRow, 8 * half);
    mlir::Value pair = mlir::vector::ExtractOp::create(b, acc, half); // columns col, col + 1
    kb.ifThen(kb.lessThan(tileRow, tileRows), [&] {
      mlir::Value row = outputRow(tileRow);
      if (width == 2) {
        // Cout is even here and col is even, so col and col + 1 exist together.
        kb.ifThen(kb.lessThan(col, out.columns), [&] { storeWithEpilogue(kb, out, epilogue, pair, row, col); });
        return;
      }
      for (int64_t i = 0; i < 2; ++i) {
        mlir::Value column = kb.add(col, i);
        kb.ifThen(kb.lessThan(column, out.columns), [&] {
          mlir::Value element = mlir::vector::ExtractOp::create(b, pair, i);
          mlir::Value single = mlir::vector::FromElementsOp::create(
              b, mlir::VectorType::get({1}, b.getF32Type()), mlir::ValueRange{element});
          storeWithEpilogue(kb, out, epilogue, single, row, column);
        });
      }
    });
  }
}

void accumulateFragmentAtomically(KernelBuilder &kb, const OutputTensor &out, mlir::Value acc, mlir::Value tileRow0,
                                  mlir::Value col0, mlir::Value lane, mlir::Value tileRows,
                                  const std::function<mlir::Value(mlir::Value)> &outputRow,
                                  const std::function<mlir::Value(mlir::Value)> &rowScale) {
  auto &b = kb.b;
  mlir::Value col = kb.add(col0, accumulatorColumn(kb, lane));
  mlir::Value firstRow = kb.add(tileRow0, accumulatorRow(kb, lane));
  for (int64_t half = 0; half < 2; ++half) {
    mlir::Value tileRow = kb.add(firstRow, 8 * half);
    kb.ifThen(kb.lessThan(tileRow, tileRows), [&] {
      mlir::Value rowStart = kb.mul(outputRow(tileRow), out.rowStride);
      mlir::Value scale = rowScale ? rowScale(tileRow) : mlir::Value();
      for (int64_t i = 0; i < 2; ++i) {
        mlir::Value column = kb.add(col, i);
        mlir::Value value = mlir::vector::ExtractOp::create(b, acc, llvm::ArrayRef<int64_t>{half, i});
        if (scale)
          value = mlir::arith::MulFOp::create(b, value, scale);
        kb.ifThen(kb.lessThan(column, out.columns), [&] {
          mlir::memref::AtomicRMWOp::create(b, mlir::arith::AtomicRMWKind::addf, value, out.buffer,
                                            mlir::ValueRange{kb.add(rowStart, column)});
        });
      }
    });
  }
}

} // namespace sparsekgen
