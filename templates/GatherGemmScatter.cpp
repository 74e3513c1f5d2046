// Gather-GEMM-scatter: the pairs' input rows are gathered into a dense matrix (`_gather`), each
// offset's rows of it are multiplied by that offset's weight by a grouped GEMM whose tiles each
// cover one offset's pairs (dense fp32 products per pair), the products are added to their
// output rows (`_scatter`, fp32 atomics; scaled by each pair's weight where the spec has
// pair_weights), and the reduction applies the epilogue. The runtime
// groups offsets of similar pair counts into one launch each (batched GEMMs over the offsets of a
// group). The gathered and product matrices make this the dataflow with the most memory traffic;
// it pays where channels are wide and dense GEMM efficiency dominates.
#include "CompanionKernels.h"
#include "mainloop/Mainloop.h"

namespace sparsekgen {

namespace {

std::vector<FunctionTemplate> gatherGemmScatter(const KernelSpec &spec) {
  std::vector<KernelParameter> parameters = {operandBuffer(spec, "gathered", SKG_ROLE_SCRATCH),
                                             operandBuffer(spec, "weight", SKG_ROLE_READ)};
  for (auto &parameter : pairTileParameters())
    parameters.push_back(parameter);
  for (auto &parameter : {f32Buffer("products", SKG_ROLE_SCRATCH), i32Size("in_channels"), i32Size("out_channels")})
    parameters.push_back(parameter);
  return {mainloopFunction(spec, std::move(parameters), SKG_GRID_PAIR_TILES,
                           [] { return MainloopParts{gatheredPairRows(), onePerTile(), pairProducts()}; }),
          gatherFunction(spec), scatterFunction(spec), reductionFunction(spec)};
}

const TemplateRegistration registration(SKG_GATHER_GEMM_SCATTER, SKG_FORWARD, gatherGemmScatter);

} // namespace

} // namespace sparsekgen
