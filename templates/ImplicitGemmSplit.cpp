// Implicit GEMM, forward, split mask: the offsets are split into S groups (grid.z), each with its
// own sort permutation and tile masks; each split writes fp32 partial sums, and a second kernel
// adds the S partials in fp32, applies the epilogue and stores (fp16 partials would lose the
// precision the accumulator kept).
#include "CompanionKernels.h"
#include "mainloop/Mainloop.h"

namespace sparsekgen {

namespace {

std::vector<FunctionTemplate> implicitGemmSplit(const KernelSpec &spec) {
  auto parameters = outputTileParameters(spec, f32Buffer("partials", SKG_ROLE_SCRATCH));
  for (auto &parameter : sortInputParameters())
    parameters.push_back(parameter);
  parameters.push_back(i32Size("splits"));
  return {mainloopFunction(spec, std::move(parameters), SKG_GRID_OUTPUT_TILES,
                           [] {
                             return MainloopParts{permutedRows(), maskedOffsets(/*splitGroups=*/true), splitPartials()};
                           }),
          reductionFunction(spec)};
}

const TemplateRegistration registration(SKG_IMPLICIT_GEMM_SPLIT, SKG_FORWARD, implicitGemmSplit);

} // namespace

} // namespace sparsekgen
