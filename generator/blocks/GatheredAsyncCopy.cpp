#include "sparsekgen/generator/blocks/GatheredAsyncCopy.h"

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

namespace sparsekgen {

std::optional<mlir::Value> gatheredCopy(KernelBuilder &kb, mlir::Value dst, mlir::ValueRange dstIndices,
                                        mlir::Value src, mlir::Value srcOffset, mlir::Value valid, int elements) {
  auto &b = kb.b;
  mlir::Value safeOffset = kb.select(valid, srcOffset, kb.index(0));
  auto element = mlir::cast<mlir::MemRefType>(src.getType()).getElementType();
  const int bytes = elements * static_cast<int>(element.getIntOrFloatBitWidth() / 8);
  if (!isAsyncCopy(elements, bytes / elements)) {
    mlir::Value loaded = mlir::memref::LoadOp::create(b, src, mlir::ValueRange{safeOffset});
    mlir::Value zero = mlir::arith::ConstantOp::create(b, element, b.getZeroAttr(element));
    mlir::memref::StoreOp::create(b, kb.select(valid, loaded, zero), dst, dstIndices);
    return std::nullopt;
  }
  mlir::Value sourceElements = kb.select(valid, kb.index(elements), kb.index(0));
  auto tokenType = mlir::nvgpu::DeviceAsyncTokenType::get(b.getContext());
  bool bypassL1 = bytes == kAsyncCopyBytes; // .cg exists for 16-byte copies only
  return mlir::nvgpu::DeviceAsyncCopyOp::create(b, tokenType, dst, dstIndices, src, mlir::ValueRange{safeOffset},
                                                b.getIndexAttr(elements), sourceElements,
                                                bypassL1 ? b.getUnitAttr() : mlir::UnitAttr());
}

} // namespace sparsekgen
