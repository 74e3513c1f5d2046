#include "sparsekgen/generator/blocks/WarpMma.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace sparsekgen {

namespace {
mlir::VectorType fragmentType(mlir::OpBuilder &b, int64_t registers, mlir::Type element) {
  return mlir::VectorType::get({registers, 2}, element);
}

mlir::Type elementOf(mlir::Value memref) { return mlir::cast<mlir::MemRefType>(memref.getType()).getElementType(); }

// The 32-bit registers of a fragment vector<R x 2 x bf16>, as mma.sync's bf16 operands want them.
llvm::SmallVector<mlir::Value> registersOf(KernelBuilder &kb, mlir::Value fragment) {
  auto type = mlir::cast<mlir::VectorType>(fragment.getType());
  llvm::SmallVector<mlir::Value> registers;
  auto i32x1 = mlir::VectorType::get({1}, kb.b.getI32Type());
  for (int64_t r = 0; r < type.getDimSize(0); ++r) {
    mlir::Value pair = mlir::vector::ExtractOp::create(kb.b, fragment, r);
    mlir::Value asI32 = mlir::vector::BitCastOp::create(kb.b, i32x1, pair);
    registers.push_back(mlir::vector::ExtractOp::create(kb.b, asI32, 0));
  }
  return registers;
}

mlir::Value bf16MmaSync(KernelBuilder &kb, mlir::Value a, mlir::Value b, mlir::Value acc) {
  auto &builder = kb.b;
  llvm::SmallVector<mlir::Value> c;
  for (int64_t row = 0; row < 2; ++row)
    for (int64_t column = 0; column < 2; ++column)
      c.push_back(mlir::vector::ExtractOp::create(builder, acc, llvm::ArrayRef<int64_t>{row, column}));
  auto f32 = builder.getF32Type();
  auto resultType = mlir::LLVM::LLVMStructType::getLiteral(builder.getContext(), {f32, f32, f32, f32});
  mlir::Value d = mlir::NVVM::MmaOp::create(
      builder, resultType, registersOf(kb, a), registersOf(kb, b), c, llvm::ArrayRef<int64_t>{kMmaM, kMmaN, kMmaK},
      std::nullopt, std::nullopt,
      std::array<mlir::NVVM::MMATypes, 2>{mlir::NVVM::MMATypes::bf16, mlir::NVVM::MMATypes::bf16},
      std::array<mlir::NVVM::MMALayout, 2>{mlir::NVVM::MMALayout::row, mlir::NVVM::MMALayout::col});
  mlir::Value result = acc;
  for (int64_t i = 0; i < 4; ++i) {
    mlir::Value value = mlir::LLVM::ExtractValueOp::create(builder, d, i);
    result = mlir::vector::InsertOp::create(builder, value, result, llvm::ArrayRef<int64_t>{i / 2, i % 2});
  }
  return result;
}
} // namespace

mlir::Value loadAFragment(KernelBuilder &kb, mlir::Value ring, mlir::Value stage, mlir::Value row0, mlir::Value col0,
                          mlir::Value lane) {
  // ldmatrix.x4: lanes 8i..8i+7 address the rows of 8x8 matrix i; the mma wants matrices
  // (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15).
  mlir::Value row = kb.add(row0, kb.rem(lane, 16));
  mlir::Value col = kb.add(col0, kb.mul(kb.div(lane, 16), 8));
  auto type = fragmentType(kb.b, 4, elementOf(ring));
  return mlir::nvgpu::LdMatrixOp::create(kb.b, type, ring, mlir::ValueRange{stage, row, col}, /*transpose=*/false,
                                         /*numTiles=*/4);
}

std::array<mlir::Value, 2> loadBFragmentPair(KernelBuilder &kb, mlir::Value ring, mlir::Value stage, mlir::Value k0,
                                             mlir::Value col0, mlir::Value lane) {
  // ldmatrix.x4.trans over a 16(K) x 16(N) block: matrices (k 0-7, n 0-7), (k 8-15, n 0-7),
  // (k 0-7, n 8-15), (k 8-15, n 8-15); registers 0-1 feed the first 8 columns, 2-3 the next 8.
  mlir::Value k = kb.add(k0, kb.rem(lane, 16));
  mlir::Value col = kb.add(col0, kb.mul(kb.div(lane, 16), 8));
  auto type = fragmentType(kb.b, 4, elementOf(ring));
  mlir::Value both = mlir::nvgpu::LdMatrixOp::create(kb.b, type, ring, mlir::ValueRange{stage, k, col},
                                                     /*transpose=*/true, /*numTiles=*/4);
  // Rows are moved one by one: n-D strided slices have no direct lowering to LLVM.
  auto operandType = fragmentType(kb.b, 2, elementOf(ring));
  auto half = [&](int64_t first) -> mlir::Value {
    mlir::Value operand = mlir::ub::PoisonOp::create(kb.b, operandType);
    for (int64_t row = 0; row < 2; ++row) {
      mlir::Value registerPair = mlir::vector::ExtractOp::create(kb.b, both, first + row);
      operand = mlir::vector::InsertOp::create(kb.b, registerPair, operand, row);
    }
    return operand;
  };
  return {half(0), half(2)};
}

mlir::Value zeroAccumulator(KernelBuilder &kb) {
  auto type = fragmentType(kb.b, 2, kb.b.getF32Type());
  return mlir::arith::ConstantOp::create(kb.b, type, mlir::DenseElementsAttr::get(type, kb.b.getF32FloatAttr(0.0f)));
}

mlir::Value mmaSync(KernelBuilder &kb, mlir::Value a, mlir::Value b, mlir::Value acc) {
  auto element = mlir::cast<mlir::VectorType>(a.getType()).getElementType();
  if (element.isBF16())
    return bf16MmaSync(kb, a, b, acc);
  return mlir::nvgpu::MmaSyncOp::create(kb.b, a, b, acc, llvm::ArrayRef<int64_t>{kMmaM, kMmaN, kMmaK});
}

mlir::Value accumulatorRow(KernelBuilder &kb, mlir::Value lane) { return kb.div(lane, 4); }
mlir::Value accumulatorColumn(KernelBuilder &kb, mlir::Value lane) { return kb.mul(kb.rem(lane, 4), 2); }

} // namespace sparsekgen
