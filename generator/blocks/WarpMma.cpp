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

mlir::Value loadAFragment(KernelBuilder &kb, TileRows layout, mlir::Value ring, mlir::Value stage, mlir::Value row0,
                          mlir::Value k0, mlir::Value lane) {
  // ldmatrix.x4: lanes 8i..8i+7 address the rows of 8x8 matrix i; the mma wants matrices
  // (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15).
  auto type = fragmentType(kb.b, 4, elementOf(ring));
  if (layout == TileRows::K) {
    // Stored K x M: matrix i's rows are k, and .trans hands each lane (m = lane / 4, k = 2 (lane % 4)
    // and + 1), the A fragment's element pair.
    mlir::Value k = kb.add(k0, kb.add(kb.rem(lane, 8), kb.mul(kb.div(lane, 16), 8)));
    mlir::Value row = kb.add(row0, kb.mul(kb.rem(kb.div(lane, 8), 2), 8));
    return mlir::nvgpu::LdMatrixOp::create(kb.b, type, ring, mlir::ValueRange{stage, k, row}, /*transpose=*/true,
                                           /*numTiles=*/4);
  }
  mlir::Value row = kb.add(row0, kb.rem(lane, 16));
  mlir::Value col = kb.add(k0, kb.mul(kb.div(lane, 16), 8));
  return mlir::nvgpu::LdMatrixOp::create(kb.b, type, ring, mlir::ValueRange{stage, row, col}, /*transpose=*/false,
                                         /*numTiles=*/4);
}

std::array<mlir::Value, 2> loadBFragmentPair(KernelBuilder &kb, TileRows layout, mlir::Value ring, mlir::Value stage,
                                             mlir::Value k0, mlir::Value col0, mlir::Value lane) {
  // ldmatrix.x4 over a 16(K) x 16(N) block: matrices (k 0-7, n 0-7), (k 8-15, n 0-7),
  // (k 0-7, n 8-15), (k 8-15, n 8-15); registers 0-1 feed the first 8 columns, 2-3 the next 8.
  auto type = fragmentType(kb.b, 4, elementOf(ring));
  mlir::Value both;
  if (layout == TileRows::N) {
    // Stored N x K: each matrix's rows are n, and the plain load hands each lane (n = lane / 4,
    // k = 2 (lane % 4) and + 1), the B fragment's element pair.
    mlir::Value n = kb.add(col0, kb.add(kb.rem(lane, 8), kb.mul(kb.div(lane, 16), 8)));
    mlir::Value k = kb.add(k0, kb.mul(kb.rem(kb.div(lane, 8), 2), 8));
    both = mlir::nvgpu::LdMatrixOp::create(kb.b, type, ring, mlir::ValueRange{stage, n, k}, /*transpose=*/false,
                                           /*numTiles=*/4);
  } else {
    mlir::Value k = kb.add(k0, kb.rem(lane, 16));
    mlir::Value col = kb.add(col0, kb.mul(kb.div(lane, 16), 8));
    both = mlir::nvgpu::LdMatrixOp::create(kb.b, type, ring, mlir::ValueRange{stage, k, col}, /*transpose=*/true,
                                           /*numTiles=*/4);
  }
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

namespace {

// The operands' rings, read by (row, k) for A and (k, column) for B whatever their layout.
struct Rings {
  OperandLayouts layouts;
  mlir::Value a, b, stage;
  mlir::Value loadA(KernelBuilder &kb, mlir::Value row, mlir::Value k) const {
    return layouts.aTransposed() ? load(kb, a, k, row) : load(kb, a, row, k);
  }
  mlir::Value loadB(KernelBuilder &kb, mlir::Value k, mlir::Value col) const {
    return layouts.bTransposed() ? load(kb, b, col, k) : load(kb, b, k, col);
  }
  // B at (k, col) and (k, col + 1): one vector load where N is contiguous.
  mlir::Value loadBPair(KernelBuilder &kb, mlir::Value k, mlir::Value col) const {
    auto pairType = mlir::VectorType::get({2}, kb.b.getF32Type());
    if (!layouts.bTransposed())
      return mlir::vector::LoadOp::create(kb.b, pairType, b, mlir::ValueRange{stage, k, col});
    return mlir::vector::FromElementsOp::create(kb.b, pairType,
                                                mlir::ValueRange{loadB(kb, k, col), loadB(kb, k, kb.add(col, 1))});
  }

private:
  mlir::Value load(KernelBuilder &kb, mlir::Value ring, mlir::Value row, mlir::Value col) const {
    return mlir::memref::LoadOp::create(kb.b, ring, mlir::ValueRange{stage, row, col});
  }
};

void accumulateTensorCore16(KernelBuilder &kb, const Rings &rings, int ctaK,
                            mlir::Value warpRow, mlir::Value warpCol, int mmaRows, int mmaCols, mlir::Value lane,
                            llvm::SmallVector<mlir::Value> &accumulators) {
  for (int kk = 0; kk < ctaK; kk += kMmaK) {
    mlir::Value k0 = kb.index(kk);
    llvm::SmallVector<mlir::Value> a;
    for (int i = 0; i < mmaRows; ++i)
      a.push_back(loadAFragment(kb, rings.layouts.a, rings.a, rings.stage, kb.add(warpRow, i * kMmaM), k0, lane));
    llvm::SmallVector<mlir::Value> b;
    for (int j = 0; j < mmaCols / 2; ++j) {
      auto pair = loadBFragmentPair(kb, rings.layouts.b, rings.b, rings.stage, k0, kb.add(warpCol, j * 16), lane);
      b.append(pair.begin(), pair.end());
    }
    for (int i = 0; i < mmaRows; ++i)
      for (int j = 0; j < mmaCols; ++j) {
        mlir::Value &acc = accumulators[i * mmaCols + j];
        acc = mmaSync(kb, a[i], b[j], acc);
      }
  }
}

// m16n8k8 tf32 fragments (PTX ISA, "Matrix Fragments for mma.m16n8k8" with .tf32): with
// g = lane / 4 and t = lane % 4, A holds (g, t), (g + 8, t), (g, t + 4), (g + 8, t + 4) and B holds
// (k = t, n = g), (k = t + 4, n = g).
void accumulateTf32(KernelBuilder &kb, const Rings &rings, int ctaK,
                    mlir::Value warpRow, mlir::Value warpCol, int mmaRows, int mmaCols, mlir::Value lane,
                    llvm::SmallVector<mlir::Value> &accumulators) {
  auto &b = kb.b;
  mlir::Value g = kb.div(lane, 4), t = kb.rem(lane, 4);
  auto aType = mlir::VectorType::get({4, 1}, b.getF32Type());
  auto bType = mlir::VectorType::get({2, 1}, b.getF32Type());
  for (int kk = 0; kk < ctaK; kk += kTf32MmaK) {
    mlir::Value k = kb.add(t, kk), k4 = kb.add(t, kk + 4);
    llvm::SmallVector<mlir::Value> a;
    for (int i = 0; i < mmaRows; ++i) {
      mlir::Value row = kb.add(kb.add(warpRow, i * kMmaM), g), row8 = kb.add(row, 8);
      a.push_back(mlir::vector::FromElementsOp::create(
          b, aType,
          mlir::ValueRange{rings.loadA(kb, row, k), rings.loadA(kb, row8, k), rings.loadA(kb, row, k4),
                           rings.loadA(kb, row8, k4)}));
    }
    llvm::SmallVector<mlir::Value> bFragments;
    for (int j = 0; j < mmaCols; ++j) {
      mlir::Value col = kb.add(kb.add(warpCol, j * kMmaN), g);
      bFragments.push_back(mlir::vector::FromElementsOp::create(
          b, bType, mlir::ValueRange{rings.loadB(kb, k, col), rings.loadB(kb, k4, col)}));
    }
    for (int i = 0; i < mmaRows; ++i)
      for (int j = 0; j < mmaCols; ++j) {
        mlir::Value &acc = accumulators[i * mmaCols + j];
        acc = mlir::nvgpu::MmaSyncOp::create(b, a[i], bFragments[j], acc, llvm::ArrayRef<int64_t>{kMmaM, kMmaN, kTf32MmaK},
                                             /*tf32Enabled=*/true);
      }
  }
}

// Exact fp32: for each k, a thread's accumulator (rows g and g + 8, columns 2t and 2t + 1 of each
// m16n8 tile) gains the outer product of its two A values and two B values, row by row as 1-D
// fused multiply-adds (which lower straight to fma.rn.f32).
void accumulateFfma(KernelBuilder &kb, const Rings &rings, int ctaK,
                    mlir::Value warpRow, mlir::Value warpCol, int mmaRows, int mmaCols, mlir::Value lane,
                    llvm::SmallVector<mlir::Value> &accumulators) {
  auto &b = kb.b;
  auto pairType = mlir::VectorType::get({2}, b.getF32Type());
  mlir::Value row0 = accumulatorRow(kb, lane), col0 = accumulatorColumn(kb, lane);
  for (int kk = 0; kk < ctaK; ++kk) {
    mlir::Value k = kb.index(kk);
    llvm::SmallVector<std::array<mlir::Value, 2>> a; // the A values of rows g and g + 8, broadcast
    llvm::SmallVector<mlir::Value> bPairs;
    for (int i = 0; i < mmaRows; ++i) {
      mlir::Value row = kb.add(kb.add(warpRow, i * kMmaM), row0);
      a.push_back({mlir::vector::BroadcastOp::create(b, pairType, rings.loadA(kb, row, k)),
                   mlir::vector::BroadcastOp::create(b, pairType, rings.loadA(kb, kb.add(row, 8), k))});
    }
    for (int j = 0; j < mmaCols; ++j) {
      mlir::Value col = kb.add(kb.add(warpCol, j * kMmaN), col0);
      bPairs.push_back(rings.loadBPair(kb, k, col));
    }
    for (int i = 0; i < mmaRows; ++i)
      for (int j = 0; j < mmaCols; ++j) {
        mlir::Value &acc = accumulators[i * mmaCols + j];
        for (int64_t h = 0; h < 2; ++h) {
          mlir::Value accRow = mlir::vector::ExtractOp::create(b, acc, h);
          accRow = mlir::vector::FMAOp::create(b, a[i][h], bPairs[j], accRow);
          acc = mlir::vector::InsertOp::create(b, accRow, acc, h);
        }
      }
  }
}

} // namespace

void accumulateStage(KernelBuilder &kb, MathMode math, OperandLayouts layouts, mlir::Value ringA, mlir::Value ringB,
                     mlir::Value stage, int ctaK, mlir::Value warpRow, mlir::Value warpCol, int mmaRows, int mmaCols,
                     mlir::Value lane, llvm::SmallVector<mlir::Value> &accumulators) {
  const Rings rings{layouts, ringA, ringB, stage};
  switch (math) {
  case MathMode::TensorCore:
    return accumulateTensorCore16(kb, rings, ctaK, warpRow, warpCol, mmaRows, mmaCols, lane, accumulators);
  case MathMode::Tf32:
    return accumulateTf32(kb, rings, ctaK, warpRow, warpCol, mmaRows, mmaCols, lane, accumulators);
  case MathMode::Ffma:
    return accumulateFfma(kb, rings, ctaK, warpRow, warpCol, mmaRows, mmaCols, lane, accumulators);
  }
}

mlir::Value accumulatorRow(KernelBuilder &kb, mlir::Value lane) { return kb.div(lane, 4); }
mlir::Value accumulatorColumn(KernelBuilder &kb, mlir::Value lane) { return kb.mul(kb.rem(lane, 4), 2); }

} // namespace sparsekgen
