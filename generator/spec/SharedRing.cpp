#include "sparsekgen/generator/SharedRing.h"

namespace sparsekgen {

SharedRingLayout sharedRingLayout(const KernelSpec &spec) {
  SharedRingLayout layout;
  layout.elementBytes = elementBytes(spec.dtypes.input);
  const int pad = SharedRingLayout::kRowPadBytes / layout.elementBytes;
  layout.aRows = spec.cta.m;
  layout.aRowElements = spec.cta.k + pad;
  layout.bRows = spec.cta.k;
  layout.bRowElements = spec.cta.n + pad;
  layout.stages = spec.stages;
  bool masked = spec.dataflowInfo().offsets == OffsetSchedule::MaskedList;
  layout.offsetListEntries = masked ? kMaxMaskedVolume + 1 : 0; // the list and its length
  return layout;
}

} // namespace sparsekgen
