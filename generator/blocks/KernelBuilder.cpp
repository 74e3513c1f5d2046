#include "sparsekgen/generator/KernelBuilder.h"

namespace sparsekgen {

void KernelBuilder::ifThen(mlir::Value cond, const std::function<void()> &body) {
  auto ifOp = mlir::scf::IfOp::create(b, cond, /*withElseRegion=*/false);
  mlir::OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  body();
}

mlir::MemRefType KernelBuilder::globalBufferType(mlir::Type element, int indexBits) {
  auto *context = element.getContext();
  return mlir::MemRefType::get({globalBufferExtent(indexBits)}, element, mlir::MemRefLayoutAttrInterface{},
                               mlir::gpu::AddressSpaceAttr::get(context, mlir::gpu::AddressSpace::Global));
}

mlir::Attribute KernelBuilder::workgroupSpace(mlir::MLIRContext *context) {
  return mlir::gpu::AddressSpaceAttr::get(context, mlir::gpu::AddressSpace::Workgroup);
}

} // namespace sparsekgen
