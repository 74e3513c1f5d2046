// Relational graph convolution (R-GCN) on the GPU, docs/graphs.md:
//
//   out_i = sum_r sum_{j in N_r(i)} norm_{r,i,j} x_j W_r + x_i W_self + b
//
// A graph's typed edges become per-relation pair lists on the device (sorted by relation, then
// destination), each pair with its normalisation weight; the self term is one more "relation"
// whose pairs are (i, i) with weight 1, so W is [relations + 1, Cin, Cout] with W_self last. The
// layer runs on the pair-list kernels of a bundle built with pair weights (the graph catalog,
// templates/catalogs/graph.json): the forward and the input gradient scale each pair's product by
// its weight where they add it to its row; the weight gradient runs on dy rows gathered per pair
// and scaled by their weights (dW_r = sum_p x_src^T (w_p dy_dst)).
#pragma once

#include <cstdint>
#include <vector>

#include <cuda.h>

#include "sparsekgen/BundleAbi.h"
#include "sparsekgen/Context.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/Graph.h"
#include "sparsekgen/LaunchArguments.h"

namespace sparsekgen {

// A relational graph as the pair-list kernels read it, on the device.
struct DeviceRelationGraph {
  int64_t nodes = 0;
  int32_t relations = 0; // without the self term
  bool selfTerm = false;
  RelationNormalization normalization = RelationNormalization::Sum;
  // int32 [pairs] sources and destinations, f32 [pairs] weights (1 for sum aggregation and the self
  // pairs), and, where some weight is not 1, int32 [pairs] 0 .. pairs - 1 (the weight gradient's
  // rows of the per-pair scaled dy).
  DeviceBuffer pairInputs, pairOutputs, pairWeights, pairRows;
  std::vector<int32_t> pairOffsets; // kernelVolume() + 1, on the host

  int kernelVolume() const { return relations + (selfTerm ? 1 : 0); }
  long long pairCount() const { return pairOffsets.empty() ? 0 : pairOffsets.back(); }
  bool unitWeights() const { return normalization == RelationNormalization::Sum; }
};

// Builds the pair lists of `edges` typed edges given as device int32 arrays (sources, targets,
// relation of each edge) on `stream`: a radix sort by (relation, destination), degrees by binary
// search for the normalisation, the self pairs appended. Ids are checked on the device: an edge out
// of range throws RuntimeError naming its row, its fields and the range. Synchronises `stream`
// (the per-relation pair offsets come back to the host). Refuses graphs with no nodes, with no
// edges or whose pairs pass 2^31 - 1.
DeviceRelationGraph relationGraphGpu(DevicePointer sources, DevicePointer targets, DevicePointer relationOfEdge,
                                     int64_t edges, int64_t nodes, int32_t relations,
                                     RelationNormalization normalization, bool selfTerm, CUstream stream);
// The same from a graph on the host (loadRelationalGraph).
DeviceRelationGraph relationGraphGpu(const RelationalGraph &graph, RelationNormalization normalization,
                                     bool selfTerm, CUstream stream);

// A host graph's typed edges as the device int32 arrays relationGraphGpu reads (uploaded on
// `stream`); refuses a graph without edges, naming it.
struct DeviceGraphEdges {
  DeviceBuffer sources, targets, relations;
  int64_t count = 0;
};
DeviceGraphEdges uploadGraphEdges(const RelationalGraph &graph, CUstream stream);

// Device tensors of one R-GCN layer, row-major in the kernel's operand type: input x [nodes, Cin],
// weight W [kernelVolume, Cin, Cout] (relations, then W_self with a self term), output [nodes,
// Cout] in the kernel's output type; bias f32 [Cout] where the kernel fuses one.
struct RgcnForwardArguments {
  DevicePointer input = 0, weight = 0, bias = 0, output = 0;
  int inChannels = 0, outChannels = 0;
};

// The layer's forward with `kernel` (a fetch_on_demand or gather_gemm_scatter forward kernel;
// one without pair weights only for sum aggregation). Asynchronous; arguments the kernel cannot
// take throw RuntimeError before any launch.
void rgcnForward(Context &context, const skg_kernel_record &kernel, const DeviceRelationGraph &graph,
                 const RgcnForwardArguments &args, CUstream stream = nullptr);

// The layer's backward: dx [nodes, Cin] in the input-gradient kernel's output type, dW
// [kernelVolume, Cin, Cout] f32 (overwritten), from dy [nodes, Cout] in the operand type (the bias
// gradient is dy's column sum, left to the caller). Either kernel may be null to skip its gradient.
struct RgcnBackwardArguments {
  DevicePointer input = 0, weight = 0, outputGrad = 0, inputGrad = 0, weightGrad = 0;
  int inChannels = 0, outChannels = 0;
};
void rgcnBackward(Context &context, const skg_kernel_record *inputGradKernel,
                  const skg_kernel_record *weightGradKernel, const DeviceRelationGraph &graph,
                  const RgcnBackwardArguments &args, CUstream stream = nullptr);

// The weight gradient's K chunk length for a graph of `pairs` pairs: one length for every relation
// (ConvBackwardArguments::weightGradChunkPairs), about kGraphWeightGradChunks chunks in all and at
// least kGraphMinChunkPairs pairs each, so a relation's chunk count follows its edge count.
constexpr long long kGraphWeightGradChunks = 2048, kGraphMinChunkPairs = 256;
int weightGradChunkPairs(long long pairs);

} // namespace sparsekgen
