// Fetch-on-demand: gather, GEMM and scatter fused in one kernel. Each CTA takes a tile of one
// kernel offset's (input, output) pairs: it gathers the pairs' input rows (zero-filling cp.async),
// multiplies by that offset's weight and adds the products to the pairs' output rows with fp32
// atomics; no gathered or per-offset product matrix exists in global memory. The reduction kernel
// (one split) then applies the epilogue and converts. With pair weights (the spec's pair_weights),
// each pair's products are scaled by its weight before the atomic add. All offsets share one launch, so offsets
// with few pairs cost a few tiles rather than a launch each.
#include "CompanionKernels.h"
#include "mainloop/Mainloop.h"

namespace sparsekgen {

namespace {

std::vector<FunctionTemplate> fetchOnDemand(const KernelSpec &spec) {
  auto parameters = pairListParameters(spec, operandBuffer(spec, "weight", SKG_ROLE_READ));
  if (spec.pairWeights)
    parameters.push_back(pairWeightsParameter());
  return {mainloopFunction(spec, std::move(parameters), SKG_GRID_PAIR_TILES,
                           [] { return MainloopParts{pairListRows(), onePerTile(), atomicPartials()}; }),
          reductionFunction(spec)};
}

const TemplateRegistration registration(SKG_FETCH_ON_DEMAND, SKG_FORWARD, fetchOnDemand);

} // namespace

} // namespace sparsekgen
