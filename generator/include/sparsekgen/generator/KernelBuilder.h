// Shared vocabulary of the building blocks: an ImplicitLocOpBuilder plus the few index helpers every
// block needs, so blocks read as the arithmetic they implement.
#pragma once

#include <cstdint>
#include <functional>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace sparsekgen {

// Global tensors are passed as bare pointers. MLIR's bare-pointer calling convention needs a static
// shape, so each is typed as a 1-D buffer of the largest extent the kernel's index width reaches:
// 2^31 - 1 elements with 32-bit indices (the runtime gives larger tensors to 64-bit kernels:
// runtime/src/conv/ConvArguments.cpp), 2^48 with 64-bit ones (more than any GPU's memory).
constexpr int64_t kGlobalBufferExtent32 = (int64_t{1} << 31) - 1;
constexpr int64_t kGlobalBufferExtent64 = int64_t{1} << 48;
constexpr int64_t globalBufferExtent(int indexBits) {
  return indexBits == 64 ? kGlobalBufferExtent64 : kGlobalBufferExtent32;
}

// The gpu.module attribute that carries the kernel's index width (32 or 64) to the lowering.
constexpr const char *kIndexBitsAttribute = "sparsekgen.index_bits";
// On a gpu.module whose kernels use architecture-specific instructions (warpgroup MMA): it is
// lowered for sm_<N>a, whose PTX and cubins run on that compute capability alone.
constexpr const char *kArchSpecificAttribute = "sparsekgen.arch_specific";
// The PTX ISA version (e.g. 83 for 8.3) a gpu.module's instructions need beyond the chip's lowest:
// the tensor-map proxy fence of TMA kernels is PTX 8.3.
constexpr const char *kPtxVersionAttribute = "sparsekgen.ptx_version";

class KernelBuilder {
public:
  explicit KernelBuilder(mlir::ImplicitLocOpBuilder &builder) : b(builder) {}

  mlir::ImplicitLocOpBuilder &b;

  mlir::Value index(int64_t value) { return mlir::arith::ConstantIndexOp::create(b, value); }
  mlir::Value i32(int32_t value) { return mlir::arith::ConstantIntOp::create(b, b.getI32Type(), value); }
  mlir::Value toIndex(mlir::Value i32Value) {
    return mlir::arith::IndexCastOp::create(b, b.getIndexType(), i32Value);
  }
  mlir::Value add(mlir::Value x, mlir::Value y) { return mlir::arith::AddIOp::create(b, x, y); }
  mlir::Value sub(mlir::Value x, mlir::Value y) { return mlir::arith::SubIOp::create(b, x, y); }
  mlir::Value mul(mlir::Value x, mlir::Value y) { return mlir::arith::MulIOp::create(b, x, y); }
  mlir::Value add(mlir::Value x, int64_t y) { return add(x, index(y)); }
  mlir::Value mul(mlir::Value x, int64_t y) { return mul(x, index(y)); }
  mlir::Value div(mlir::Value x, mlir::Value y) { return mlir::arith::DivUIOp::create(b, x, y); }
  mlir::Value rem(mlir::Value x, mlir::Value y) { return mlir::arith::RemUIOp::create(b, x, y); }
  mlir::Value div(mlir::Value x, int64_t y) { return div(x, index(y)); }
  mlir::Value rem(mlir::Value x, int64_t y) { return rem(x, index(y)); }
  mlir::Value ceilDiv(mlir::Value x, int64_t y) { return div(add(x, y - 1), y); }
  mlir::Value lessThan(mlir::Value x, mlir::Value y) {
    return mlir::arith::CmpIOp::create(b, mlir::arith::CmpIPredicate::slt, x, y);
  }
  mlir::Value equal(mlir::Value x, mlir::Value y) {
    return mlir::arith::CmpIOp::create(b, mlir::arith::CmpIPredicate::eq, x, y);
  }
  mlir::Value both(mlir::Value x, mlir::Value y) { return mlir::arith::AndIOp::create(b, x, y); }
  mlir::Value select(mlir::Value cond, mlir::Value x, mlir::Value y) {
    return mlir::arith::SelectOp::create(b, cond, x, y);
  }

  // Emits `body` under `cond`; the builder returns to after the scf.if.
  void ifThen(mlir::Value cond, const std::function<void()> &body);

  static mlir::MemRefType globalBufferType(mlir::Type element, int indexBits);
  static mlir::Attribute workgroupSpace(mlir::MLIRContext *context);
};

} // namespace sparsekgen
