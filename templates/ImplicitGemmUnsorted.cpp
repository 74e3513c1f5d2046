// Implicit GEMM, forward, rows in their natural order: out[j] = sum_k in[out_in_map[j][k]] * W[k].
// GEMM view: M = outputs, N = Cout, K = kernel volume x Cin; a K-step covers one kernel offset and
// CTA-K input channels, its A rows gathered through out_in_map.
#include "mainloop/Mainloop.h"

namespace sparsekgen {

namespace {

std::vector<FunctionTemplate> implicitGemmUnsorted(const KernelSpec &spec) {
  auto parameters = outputTileParameters(spec, outputBuffer(spec, "output", SKG_ROLE_WRITE));
  for (auto &parameter : epilogueParameters(spec.epilogue, bufferOf(spec.dtypes.output)))
    parameters.push_back(parameter);
  return {mainloopFunction(spec, std::move(parameters), SKG_GRID_OUTPUT_TILES, [] {
    return MainloopParts{naturalRows(), allOffsets(), epilogueStore()};
  })};
}

const TemplateRegistration registration(SKG_IMPLICIT_GEMM, SKG_FORWARD, implicitGemmUnsorted);

} // namespace

} // namespace sparsekgen
