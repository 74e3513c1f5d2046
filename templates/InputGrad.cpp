// The input gradient (dgrad) of every dataflow that serves it: dx[i] = sum_k dy[j] * W[k]^T over the
// pairs (i, j) of offset k, which is a forward convolution of dy on the transposed map (output i
// reads input j at offset k where the forward map has out_in_map[j][k] = i) with each W[k] read
// transposed. So a dgrad kernel is the dataflow's forward template built with transposed weight
// addressing (OperandLayouts: its B tile is stored N x K, K = the layer's Cout contiguous, read by
// ldmatrix without .trans), and it takes the forward's parameter names in the GEMM's roles:
//   input = dy [outputs of the layer, Cout], out_in_map = the transposed map [inputs, volume] (or the
//   forward's pair lists with inputs and outputs swapped), output = dx [inputs, Cin],
//   outputs = the layer's input count, in_channels = the layer's Cout, out_channels = its Cin,
//   weight = the layer's W [volume, Cin, Cout] unchanged.
// convBackward (Conv.h) makes that call; sort inputs come from the transposed map.
#include "KernelTemplate.h"

namespace sparsekgen {

namespace {

struct InputGradRegistrations {
  InputGradRegistrations() {
    for (const DataflowInfo &info : dataflowTable())
      if (info.serves(SKG_INPUT_GRAD)) {
        skg_dataflow dataflow = info.id;
        TemplateRegistration(dataflow, SKG_INPUT_GRAD, [dataflow](const KernelSpec &spec) {
          return registeredTemplate(dataflow, SKG_FORWARD)(spec);
        });
      }
  }
};

const InputGradRegistrations registrations;

} // namespace

} // namespace sparsekgen
