// Which kernel of a bundle runs one operation of a relational graph layer (GraphConv.h). CPU only.
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/ConfigTable.h"

namespace sparsekgen {

struct GraphKernelRequest {
  std::string operation = "forward"; // forward, input_grad or weight_grad
  std::string dtype = "f16";         // operands (and forward / input-gradient output): f16, bf16 or f32
  int inChannels = 0, outChannels = 0;
  std::vector<std::string> epilogue; // forward only: [], [bias] or [bias, relu]
  std::string dataflow;              // empty: the rule's choice (fetch_on_demand where it has a kernel)
  bool allowTf32 = false;            // f32 layers: tf32 kernels only when asked, as for convolutions
  bool preferTf32 = false;           // f32 layers: tf32 kernels before exact ones (implies allowTf32)
};

// Among `kernels`: the operation, types and epilogue asked for, pair weights on forward and
// input-gradient kernels (weight-gradient kernels take none: GraphConv.h scales dy instead), a
// channel alignment dividing Cin and Cout, tf32 only when allowed; then the dataflow asked for (or
// fetch_on_demand, which needs no gathered or product matrix), exact fp32 before tf32 (tf32 first with
// preferTf32), the widest
// alignment, the tile nearest 128 x 64 (weight gradients: nearest [Cin, Cout] within 32 to 64),
// and 3 stages. Throws RuntimeError naming the request when no kernel fits.
const KernelDescription &chooseGraphKernel(const std::vector<KernelDescription> &kernels,
                                           const GraphKernelRequest &request);

} // namespace sparsekgen
