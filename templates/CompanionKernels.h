// The companion kernels a dataflow's table entry lists (DataflowTable.h CompanionKernel), as
// functions of the same image: the reduction of fp32 partials with the epilogue, and the gather and
// scatter of pair rows. Each is kCompanionThreads threads per block over its work items.
#pragma once

#include "KernelTemplate.h"

namespace sparsekgen {

constexpr int kCompanionThreads = 256;

// `<name>_reduce`: sums `splits` fp32 [outputs, Cout] slabs, applies the epilogue, converts, stores.
FunctionTemplate reductionFunction(const KernelSpec &spec);
// `<name>_reduce` of the weight gradient: weight_grad[k][ci][co] = the sum of the [Cin, Cout] fp32
// partials of offset k's K chunks, tile_first[k] .. tile_first[k + 1] - 1, in that order (zero for an
// offset without pairs).
FunctionTemplate weightReductionFunction(const KernelSpec &spec);
// `<name>_gather`: gathered[p][c] = input[pair_inputs[p]][c].
FunctionTemplate gatherFunction(const KernelSpec &spec);
// `<name>_scatter`: partials[pair_outputs[p]][c] += products[p][c] (fp32 atomics).
FunctionTemplate scatterFunction(const KernelSpec &spec);

} // namespace sparsekgen
