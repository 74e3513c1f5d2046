// Implicit GEMM, forward, sorted: rows are taken in the order of a permutation that sorts them by
// their offset bitmask, so a CTA's rows share offsets; each CTA visits only the offsets set in its
// tile's OR-reduced mask and stores each row through the permutation.
#include "mainloop/Mainloop.h"

namespace sparsekgen {

namespace {

std::vector<FunctionTemplate> implicitGemmSorted(const KernelSpec &spec) {
  auto parameters = outputTileParameters(spec, outputBuffer(spec, "output", SKG_ROLE_WRITE));
  for (auto &parameter : sortInputParameters())
    parameters.push_back(parameter);
  for (auto &parameter : epilogueParameters(spec.epilogue, bufferOf(spec.dtypes.output)))
    parameters.push_back(parameter);
  return {mainloopFunction(spec, std::move(parameters), SKG_GRID_OUTPUT_TILES, [] {
    return MainloopParts{permutedRows(), maskedOffsets(/*splitGroups=*/false), epilogueStore()};
  })};
}

const TemplateRegistration registration(SKG_IMPLICIT_GEMM_SORTED, SKG_FORWARD, implicitGemmSorted);

} // namespace

} // namespace sparsekgen
