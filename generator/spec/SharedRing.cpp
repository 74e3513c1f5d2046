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
  return layout;
}

} // namespace sparsekgen
