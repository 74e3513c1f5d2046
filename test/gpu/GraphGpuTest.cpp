// A relational graph convolution on the bundle's pair-list kernels: a graph of AIFB's size (8,285
// nodes, 29,043 edges, 45 relations; synthetic, with a skewed count of edges per relation and of
// in-degrees) as per-relation pair lists (Graph.h), every fp16 gather-GEMM-scatter and
// fetch-on-demand forward kernel without an epilogue, against the float64 R-GCN layer (sum
// aggregation, no self term: the part the existing kernels compute), outputs NaN-poisoned first.
#include <gtest/gtest.h>

#include <random>

#include "sparsekgen/Conv.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Graph.h"
#include "sparsekgen/Reference.h"
#include "SyntheticGraphs.h"
#include "TestContext.h"

namespace sparsekgen {
namespace {

TEST(RelationalGraphOnGpu, PairListKernelsComputeTheSumOfRelationMessages) {
  Context &gpu = testclouds::context();
  const RelationalGraph graph = testgraphs::syntheticAifbSizedGraph();
  const RelationPairs pairs = relationPairs(graph);
  constexpr int channels = 32;
  std::mt19937 random(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(graph.nodes) * channels), w(static_cast<size_t>(graph.relations) * channels * channels);
  for (auto &v : x)
    v = roundToElement(value(random), SKG_F16);
  for (auto &v : w)
    v = roundToElement(value(random) * 0.2f, SKG_F16);
  const auto expected = referenceRgcnForward(graph, x, channels, channels, w, {}, {}, RelationNormalization::Sum);

  auto input = DeviceBuffer::from(encodeElements(x, SKG_F16));
  auto weight = DeviceBuffer::from(encodeElements(w, SKG_F16));
  auto pairInputs = DeviceBuffer::from(pairs.pairInputs);
  auto pairOutputs = DeviceBuffer::from(pairs.pairOutputs);
  DeviceBuffer output(expected.size() * 2);
  int tested = 0;
  for (const skg_kernel_record *kernel : gpu.kernels()) {
    const bool pairList = kernel->dataflow == SKG_GATHER_GEMM_SCATTER || kernel->dataflow == SKG_FETCH_ON_DEMAND;
    if (!pairList || kernel->operation != SKG_FORWARD || kernel->operand_type != SKG_F16 ||
        kernel->output_type != SKG_F16 || kernel->epilogue_op_count != 0 || kernel->index_bits != 32 ||
        channels % kernel->channel_alignment != 0)
      continue;
    SCOPED_TRACE(kernel->name);
    ConvForwardArguments args;
    args.input = input.get();
    args.weight = weight.get();
    args.output = output.get();
    args.inputs = args.outputs = static_cast<int>(graph.nodes);
    args.inChannels = args.outChannels = channels;
    args.kernelVolume = graph.relations;
    args.pairInputs = pairInputs.get();
    args.pairOutputs = pairOutputs.get();
    args.pairOffsets.assign(pairs.pairOffsets.begin(), pairs.pairOffsets.end());
    output.fill(0xff); // NaN poison: every row must be written, rows without edges as zeros
    convForward(gpu, *kernel, args);
    gpu.synchronize(kernel->name);
    EXPECT_EQ(countNonFiniteRows(output.get(), args.outputs, channels), 0);
    const double error = relativeError(decodeElements(output.download<uint8_t>(), SKG_F16), expected);
    std::printf("%s: relative error %.2e over %lld edges in %d relations (largest %lld)\n", kernel->name, error,
                static_cast<long long>(graph.edges.size()), graph.relations,
                static_cast<long long>(pairs.largestRelation));
    EXPECT_LE(error, 2e-3);
    ++tested;
  }
  EXPECT_GT(tested, 0) << "the bundle has no fp16 pair-list kernel without an epilogue";
}

} // namespace
} // namespace sparsekgen
