#include "sparsekgen/generator/blocks/GatheredAsyncCopy.h"

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

namespace sparsekgen {

mlir::Value gatheredAsyncCopy(KernelBuilder &kb, mlir::Value dst, mlir::ValueRange dstIndices, mlir::Value src,
                              mlir::Value srcOffset, mlir::Value valid, int elements) {
  auto &b = kb.b;
  mlir::Value safeOffset = kb.select(valid, srcOffset, kb.index(0));
  mlir::Value sourceElements = kb.select(valid, kb.index(elements), kb.index(0));
  auto tokenType = mlir::nvgpu::DeviceAsyncTokenType::get(b.getContext());
  return mlir::nvgpu::DeviceAsyncCopyOp::create(b, tokenType, dst, dstIndices, src, mlir::ValueRange{safeOffset},
                                                b.getIndexAttr(elements), sourceElements, b.getUnitAttr());
}

} // namespace sparsekgen
