// The R-GCN layer's launches (GraphConv.h): the graph's pair lists and weights handed to the
// pair-list kernels as a convolution of kernelVolume() offsets over nodes.
#include "sparsekgen/GraphConv.h"

#include <algorithm>

#include <fmt/format.h>

#include "graph/GraphDeviceOps.h"
#include "sparsekgen/Conv.h"
#include "sparsekgen/ConvArguments.h"
#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

void requirePairListKernel(const skg_kernel_record &kernel, const DeviceRelationGraph &graph, const char *role) {
  const DataflowInfo &info = dataflowInfo(kernel.dataflow);
  if (info.extras != MapExtras::PairLists)
    throw RuntimeError(fmt::format("{}: a graph layer's {} runs on pair lists (fetch_on_demand, gather_gemm_scatter, "
                                   "pair_split_k kernels), not on a {} kernel",
                                   kernel.name, role, info.spelling()));
  if (graph.nodes > std::numeric_limits<int>::max())
    throw RuntimeError(fmt::format("{}: {} nodes, past the 2^31 - 1 rows a layer indexes", kernel.name, graph.nodes));
}

// The weights the kernel reads: those of the graph for a kernel with pair weights; none for one
// without, which computes only sum aggregation.
DevicePointer pairWeightsFor(const skg_kernel_record &kernel, const DeviceRelationGraph &graph) {
  if (takesPairWeights(kernel))
    return graph.pairWeights.get();
  if (!graph.unitWeights())
    throw RuntimeError(fmt::format("{}: this graph's messages are normalised per edge, and the kernel takes no pair "
                                   "weights; choose a kernel built with \"pair_weights\": true (the graph bundle)",
                                   kernel.name));
  return 0;
}

// The fields a forward and a backward call share: the graph as a convolution of kernelVolume()
// offsets over its nodes, and its pair lists.
template <typename Call>
Call graphCall(const DeviceRelationGraph &graph, int inChannels, int outChannels) {
  Call call;
  call.inputs = call.outputs = static_cast<int>(graph.nodes);
  call.inChannels = inChannels;
  call.outChannels = outChannels;
  call.kernelVolume = graph.kernelVolume();
  call.pairInputs = graph.pairInputs.get();
  call.pairOutputs = graph.pairOutputs.get();
  call.pairOffsets = graph.pairOffsets;
  return call;
}

} // namespace

int weightGradChunkPairs(long long pairs) {
  return static_cast<int>(std::max<long long>(kGraphMinChunkPairs, (pairs + kGraphWeightGradChunks - 1) /
                                                                        kGraphWeightGradChunks));
}

void rgcnForward(Context &context, const skg_kernel_record &kernel, const DeviceRelationGraph &graph,
                 const RgcnForwardArguments &args, CUstream stream) {
  requirePairListKernel(kernel, graph, "forward");
  auto call = graphCall<ConvForwardArguments>(graph, args.inChannels, args.outChannels);
  call.input = args.input;
  call.weight = args.weight;
  call.output = args.output;
  call.bias = args.bias;
  call.pairWeights = pairWeightsFor(kernel, graph);
  convForward(context, kernel, call, stream);
}

void rgcnBackward(Context &context, const skg_kernel_record *inputGradKernel,
                  const skg_kernel_record *weightGradKernel, const DeviceRelationGraph &graph,
                  const RgcnBackwardArguments &args, CUstream stream) {
  auto call = graphCall<ConvBackwardArguments>(graph, args.inChannels, args.outChannels);
  call.input = args.input;
  call.weight = args.weight;
  call.outputGrad = args.outputGrad;
  if (inputGradKernel) {
    requirePairListKernel(*inputGradKernel, graph, "input gradient");
    ConvBackwardArguments dx = call;
    dx.inputGrad = args.inputGrad;
    dx.pairWeights = pairWeightsFor(*inputGradKernel, graph);
    convBackward(context, inputGradKernel, nullptr, dx, stream);
  }
  if (!weightGradKernel)
    return;
  requirePairListKernel(*weightGradKernel, graph, "weight gradient");
  ConvBackwardArguments dw = call;
  dw.weightGrad = args.weightGrad;
  dw.weightGradChunkPairs = weightGradChunkPairs(graph.pairCount());
  if (graph.unitWeights()) {
    convBackward(context, nullptr, weightGradKernel, dw, stream);
    return;
  }
  // dW_r = sum_p x_src^T (w_p dy_dst): K row p of the B operand is dy_dst scaled, one row per pair.
  const long long pairs = graph.pairCount();
  DeviceBuffer scaled(static_cast<size_t>(pairs) * args.outChannels * elementBytes(weightGradKernel->operand_type),
                      stream);
  gatherWeightedRows(args.outputGrad, graph.pairOutputs.get(), graph.pairWeights.get(), pairs, args.outChannels,
                     weightGradKernel->operand_type, scaled.get(), stream);
  dw.outputGrad = scaled.get();
  dw.outputs = static_cast<int>(pairs);
  dw.pairOutputs = graph.pairRows.get();
  convBackward(context, nullptr, weightGradKernel, dw, stream);
}

} // namespace sparsekgen
