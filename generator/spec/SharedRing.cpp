#include "sparsekgen/generator/SharedRing.h"

namespace sparsekgen {

SharedRingLayout sharedRingLayout(const KernelSpec &spec) {
  SharedRingLayout layout;
  layout.aRows = spec.cta.m;
  layout.aRowElements = spec.cta.k + SharedRingLayout::kRowPadElements;
  layout.bRows = spec.cta.k;
  layout.bRowElements = spec.cta.n + SharedRingLayout::kRowPadElements;
  layout.elementBytes = 2;
  layout.stages = spec.stages;
  bool masked = spec.dataflow == Dataflow::ImplicitGemmSorted || spec.dataflow == Dataflow::ImplicitGemmSplit;
  layout.offsetListEntries = masked ? kMaxMaskedVolume + 1 : 0; // the list and its length
  return layout;
}

} // namespace sparsekgen
