#include "sparsekgen/generator/blocks/PipelineRing.h"

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

namespace sparsekgen {

SharedRingViews buildSharedRing(KernelBuilder &kb, const SharedRingLayout &layout, mlir::Type element) {
  auto &b = kb.b;
  auto *context = b.getContext();
  auto space = KernelBuilder::workgroupSpace(context);
  auto bytesType = mlir::MemRefType::get({mlir::ShapedType::kDynamic}, b.getI8Type(),
                                         mlir::MemRefLayoutAttrInterface{}, space);
  mlir::Value shared = mlir::gpu::DynamicSharedMemoryOp::create(b, bytesType);
  auto aType = mlir::MemRefType::get({layout.stages, layout.aRows, layout.aRowElements}, element,
                                     mlir::MemRefLayoutAttrInterface{}, space);
  auto bType = mlir::MemRefType::get({layout.stages, layout.bRows, layout.bRowElements}, element,
                                     mlir::MemRefLayoutAttrInterface{}, space);
  // Swizzled rings begin at the first 1024-byte boundary of shared memory.
  mlir::Value start = kb.index(0);
  if (layout.alignmentSlack()) {
    mlir::Value address = mlir::memref::ExtractAlignedPointerAsIndexOp::create(b, shared);
    const int64_t alignment = SharedRingLayout::kSwizzleAlignment;
    start = kb.rem(kb.sub(kb.index(alignment), kb.rem(address, alignment)), alignment);
  }
  SharedRingViews views;
  views.a = mlir::memref::ViewOp::create(b, aType, shared, start, mlir::ValueRange{});
  views.b = mlir::memref::ViewOp::create(b, bType, shared, kb.add(start, layout.aRingBytes()), mlir::ValueRange{});
  return views;
}

mlir::Value ringRowsView(KernelBuilder &kb, mlir::Value ring, mlir::Value stage, mlir::Value firstRow,
                         mlir::MemRefType viewType) {
  auto ringView = ring.getDefiningOp<mlir::memref::ViewOp>();
  auto ringType = mlir::cast<mlir::MemRefType>(ring.getType());
  const int64_t rowBytes = ringType.getDimSize(2) * (ringType.getElementTypeBitWidth() / 8);
  mlir::Value byteOffset = kb.add(ringView.getByteShift(),
                                  kb.add(kb.mul(stage, ringType.getDimSize(1) * rowBytes), kb.mul(firstRow, rowBytes)));
  return mlir::memref::ViewOp::create(kb.b, viewType, ringView.getSource(), byteOffset, mlir::ValueRange{});
}

mlir::Value commitAsyncGroup(KernelBuilder &kb, mlir::ValueRange copyTokens) {
  auto tokenType = mlir::nvgpu::DeviceAsyncTokenType::get(kb.b.getContext());
  return mlir::nvgpu::DeviceAsyncCreateGroupOp::create(kb.b, tokenType, copyTokens);
}

void waitAsyncGroups(KernelBuilder &kb, mlir::Value groupToken, int pending) {
  mlir::nvgpu::DeviceAsyncWaitOp::create(kb.b, groupToken, kb.b.getI32IntegerAttr(pending));
}

} // namespace sparsekgen
