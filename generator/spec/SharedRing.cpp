#include "sparsekgen/generator/SharedRing.h"

#include "sparsekgen/generator/MmaShapes.h"

namespace sparsekgen {

OperandLayouts operandLayouts(const KernelSpec &spec) {
  OperandLayouts layouts;
  if (spec.operation == ConvOperation::InputGrad)
    layouts.b = TileRows::N;
  if (spec.operation == ConvOperation::WeightGrad)
    layouts.a = TileRows::K;
  return layouts;
}

SharedRingLayout sharedRingLayout(const KernelSpec &spec) {
  SharedRingLayout layout;
  layout.operands = operandLayouts(spec);
  layout.elementBytes = elementBytes(spec.dtypes.input);
  const int pad = SharedRingLayout::kRowPadBytes / layout.elementBytes;
  const bool aByK = layout.operands.aTransposed(), bByN = layout.operands.bTransposed();
  layout.aRows = aByK ? spec.cta.k : spec.cta.m;
  layout.aRowElements = (aByK ? spec.cta.m : spec.cta.k) + pad;
  layout.bRows = bByN ? spec.cta.n : spec.cta.k;
  layout.bRowElements = (bByN ? spec.cta.k : spec.cta.n) + pad;
  layout.stages = spec.stages;
  if (spec.warpgroupMma()) {
    layout.swizzled128 = true;
    layout.aRows = spec.cta.m;
    layout.aRowElements = spec.cta.k;
    layout.bRows = spec.cta.n / kWarpgroupK * spec.cta.k; // N / 64 boxes of CTA K rows
    layout.bRowElements = kWarpgroupK;                     // 64 N columns of a box
  }
  bool masked = spec.dataflowInfo().offsets == OffsetSchedule::MaskedList;
  layout.offsetListEntries = masked ? kMaxMaskedVolume + 1 : 0; // the list and its length
  return layout;
}

} // namespace sparsekgen
