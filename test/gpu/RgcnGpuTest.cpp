// The R-GCN layer on the graph bundle (GraphConv.h, templates/catalogs/graph.json): the device
// pair lists and weights against the host's, and every kernel of the bundle against the float64
// layer on a synthetic graph of AIFB's counts: forward kernels under sum, mean and symmetric
// normalisation with the self term and their fused epilogue, input-gradient and weight-gradient
// kernels likewise; outputs NaN-poisoned first. Refusals: out-of-range edges, a kernel without pair
// weights on a normalised graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <tuple>

#include "sparsekgen/Conv.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/GraphConv.h"
#include "sparsekgen/Reference.h"
#include "GraphTestContext.h"
#include "SyntheticGraphs.h"
#include "TestContext.h"

namespace sparsekgen {
namespace {

using testgraphs::graphContext;

constexpr RelationNormalization kNormalizations[] = {RelationNormalization::Sum, RelationNormalization::Mean,
                                                     RelationNormalization::Symmetric};
const char *spelling(RelationNormalization n) {
  return n == RelationNormalization::Sum ? "sum" : n == RelationNormalization::Mean ? "mean" : "symmetric";
}

const RelationalGraph &aifbSized() {
  static const RelationalGraph graph = testgraphs::syntheticAifbSizedGraph();
  return graph;
}

// Channel counts a kernel takes: multiples of 8 (16 for its N) where its alignment allows, else
// counts no alignment above 1 divides.
std::pair<int, int> channelsFor(const skg_kernel_record &kernel) {
  return kernel.channel_alignment == 1 ? std::pair{7, 5} : std::pair{32, 16};
}

// Tolerances of the relative L2 error: fp16 operands, bf16 (8-bit mantissa), exact fp32, tf32.
double tolerance(const skg_kernel_record &kernel) {
  if (kernel.operand_type == SKG_BF16)
    return 1.5e-2;
  if (kernel.operand_type == SKG_F32)
    return kernel.math == SKG_MATH_FFMA ? 1e-5 : 3e-3;
  return 2e-3;
}

std::vector<float> randomValues(size_t count, float scale, uint32_t dtype, unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (auto &v : values)
    v = roundToElement(value(random) * scale, dtype);
  return values;
}

// W with the self slab last, as the device layer reads it.
std::vector<float> withSelfSlab(std::vector<float> relations, const std::vector<float> &self) {
  relations.insert(relations.end(), self.begin(), self.end());
  return relations;
}

bool fusesOp(const skg_kernel_record &kernel, uint32_t op) {
  return std::find(kernel.epilogue_ops, kernel.epilogue_ops + kernel.epilogue_op_count, op) !=
         kernel.epilogue_ops + kernel.epilogue_op_count;
}

TEST(RgcnOnGpu, DevicePairListsMatchTheHostGraph) {
  Context &gpu = graphContext();
  (void)gpu;
  const RelationalGraph &graph = aifbSized();
  const RelationPairs host = relationPairs(graph);
  for (RelationNormalization normalization : kNormalizations) {
    SCOPED_TRACE(spelling(normalization));
    const DeviceRelationGraph device = relationGraphGpu(graph, normalization, /*selfTerm=*/true, nullptr);
    ASSERT_EQ(device.kernelVolume(), graph.relations + 1);
    std::vector<int32_t> expectedOffsets(host.pairOffsets.begin(), host.pairOffsets.end());
    expectedOffsets.push_back(static_cast<int32_t>(graph.edges.size() + graph.nodes));
    EXPECT_EQ(device.pairOffsets, expectedOffsets);
    // Per relation, the same (destination, source, weight) multiset; self pairs last with weight 1.
    const auto inputs = device.pairInputs.download<int32_t>(), outputs = device.pairOutputs.download<int32_t>();
    const auto weights = device.pairWeights.download<float>();
    const std::vector<double> norms = edgeNormalization(graph, normalization);
    std::vector<std::tuple<int, int, int, float>> expected, actual;
    for (size_t e = 0; e < graph.edges.size(); ++e)
      expected.emplace_back(graph.edges[e].relation, graph.edges[e].target, graph.edges[e].source,
                            static_cast<float>(norms[e]));
    for (int r = 0; r < graph.relations; ++r)
      for (int32_t p = device.pairOffsets[r]; p < device.pairOffsets[r + 1]; ++p)
        actual.emplace_back(r, outputs[p], inputs[p], weights[p]);
    std::sort(expected.begin(), expected.end());
    std::sort(actual.begin(), actual.end());
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < actual.size(); ++i) {
      ASSERT_EQ(std::get<0>(actual[i]), std::get<0>(expected[i])) << "pair " << i;
      ASSERT_EQ(std::get<1>(actual[i]), std::get<1>(expected[i])) << "pair " << i;
      ASSERT_EQ(std::get<2>(actual[i]), std::get<2>(expected[i])) << "pair " << i;
      ASSERT_NEAR(std::get<3>(actual[i]), std::get<3>(expected[i]), 1e-6f) << "pair " << i;
    }
    for (int64_t i = 0; i < graph.nodes; ++i) {
      const size_t p = graph.edges.size() + static_cast<size_t>(i);
      ASSERT_EQ(inputs[p], i);
      ASSERT_EQ(outputs[p], i);
      ASSERT_EQ(weights[p], 1.0f);
    }
  }
}

TEST(RgcnOnGpu, EveryForwardKernelMatchesTheFloat64Layer) {
  Context &gpu = graphContext();
  const RelationalGraph &graph = aifbSized();
  int tested = 0;
  for (const skg_kernel_record *kernel : gpu.kernels()) {
    if (kernel->operation != SKG_FORWARD)
      continue;
    SCOPED_TRACE(kernel->name);
    const auto [cin, cout] = channelsFor(*kernel);
    const uint32_t dtype = kernel->operand_type;
    const auto x = randomValues(static_cast<size_t>(graph.nodes) * cin, 1.0f, dtype, 1);
    const auto w = randomValues(static_cast<size_t>(graph.relations) * cin * cout, 0.3f, dtype, 2);
    const auto self = randomValues(static_cast<size_t>(cin) * cout, 0.3f, dtype, 3);
    const bool hasBias = fusesOp(*kernel, SKG_EPILOGUE_BIAS), hasRelu = fusesOp(*kernel, SKG_EPILOGUE_RELU);
    const std::vector<float> bias = hasBias ? randomValues(cout, 0.5f, SKG_F32, 4) : std::vector<float>{};
    auto input = DeviceBuffer::from(encodeElements(x, dtype));
    auto weight = DeviceBuffer::from(encodeElements(withSelfSlab(w, self), dtype));
    auto biasBuffer = hasBias ? DeviceBuffer::from(bias) : DeviceBuffer();
    DeviceBuffer output(static_cast<size_t>(graph.nodes) * cout * elementBytes(kernel->output_type));
    for (RelationNormalization normalization : kNormalizations) {
      SCOPED_TRACE(spelling(normalization));
      auto expected = referenceRgcnForward(graph, x, cin, cout, w, self, bias, normalization);
      if (hasRelu)
        for (double &v : expected)
          v = std::max(v, 0.0);
      const DeviceRelationGraph device = relationGraphGpu(graph, normalization, true, nullptr);
      output.fill(0xff); // NaN poison
      RgcnForwardArguments args;
      args.input = input.get();
      args.weight = weight.get();
      args.bias = biasBuffer.get();
      args.output = output.get();
      args.inChannels = cin;
      args.outChannels = cout;
      rgcnForward(gpu, *kernel, device, args, nullptr);
      gpu.synchronize(kernel->name);
      EXPECT_EQ(countNonFiniteRows(output.get(), static_cast<int>(graph.nodes), cout, kernel->output_type), 0);
      const double error = relativeError(decodeElements(output.download<uint8_t>(), kernel->output_type), expected);
      std::printf("forward %s %s (Cin %d, Cout %d): relative error %.2e\n", kernel->name, spelling(normalization),
                  cin, cout, error);
      EXPECT_LE(error, tolerance(*kernel));
    }
    ++tested;
  }
  EXPECT_GT(tested, 0) << "the graph bundle has no forward kernel";
}

TEST(RgcnOnGpu, EveryGradientKernelMatchesTheFloat64Gradients) {
  Context &gpu = graphContext();
  const RelationalGraph &graph = aifbSized();
  int inputGradKernels = 0, weightGradKernels = 0;
  for (const skg_kernel_record *kernel : gpu.kernels()) {
    if (kernel->operation == SKG_FORWARD)
      continue;
    SCOPED_TRACE(kernel->name);
    const bool inputGrad = kernel->operation == SKG_INPUT_GRAD;
    const auto [cin, cout] = channelsFor(*kernel);
    const uint32_t dtype = kernel->operand_type;
    const auto x = randomValues(static_cast<size_t>(graph.nodes) * cin, 1.0f, dtype, 5);
    const auto dy = randomValues(static_cast<size_t>(graph.nodes) * cout, 1.0f, dtype, 6);
    const auto w = randomValues(static_cast<size_t>(graph.relations) * cin * cout, 0.3f, dtype, 7);
    const auto self = randomValues(static_cast<size_t>(cin) * cout, 0.3f, dtype, 8);
    auto input = DeviceBuffer::from(encodeElements(x, dtype));
    auto outputGrad = DeviceBuffer::from(encodeElements(dy, dtype));
    auto weight = DeviceBuffer::from(encodeElements(withSelfSlab(w, self), dtype));
    const size_t gradientElements = inputGrad ? static_cast<size_t>(graph.nodes) * cin
                                              : static_cast<size_t>(graph.relations + 1) * cin * cout;
    const uint32_t gradientType = inputGrad ? kernel->output_type : SKG_F32;
    DeviceBuffer gradient(gradientElements * elementBytes(gradientType));
    for (RelationNormalization normalization : kNormalizations) {
      SCOPED_TRACE(spelling(normalization));
      const RgcnGradients reference = referenceRgcnBackward(graph, x, dy, cin, cout, w, self, normalization);
      const std::vector<double> expected =
          inputGrad ? reference.inputGrad : [&] {
            std::vector<double> all = reference.weightGrad;
            all.insert(all.end(), reference.selfWeightGrad.begin(), reference.selfWeightGrad.end());
            return all;
          }();
      const DeviceRelationGraph device = relationGraphGpu(graph, normalization, true, nullptr);
      gradient.fill(0xff);
      RgcnBackwardArguments args;
      args.input = input.get();
      args.weight = weight.get();
      args.outputGrad = outputGrad.get();
      (inputGrad ? args.inputGrad : args.weightGrad) = gradient.get();
      args.inChannels = cin;
      args.outChannels = cout;
      rgcnBackward(gpu, inputGrad ? kernel : nullptr, inputGrad ? nullptr : kernel, device, args, nullptr);
      gpu.synchronize(kernel->name);
      const int rows = inputGrad ? static_cast<int>(graph.nodes) : (graph.relations + 1) * cin;
      EXPECT_EQ(countNonFiniteRows(gradient.get(), rows, inputGrad ? cin : cout, gradientType), 0);
      const double error = relativeError(decodeElements(gradient.download<uint8_t>(), gradientType), expected);
      std::printf("%s %s %s (Cin %d, Cout %d): relative error %.2e\n", inputGrad ? "dx" : "dW", kernel->name,
                  spelling(normalization), cin, cout, error);
      EXPECT_LE(error, tolerance(*kernel));
    }
    ++(inputGrad ? inputGradKernels : weightGradKernels);
  }
  EXPECT_GT(inputGradKernels, 0);
  EXPECT_GT(weightGradKernels, 0);
}

TEST(RgcnOnGpu, RefusesOutOfRangeEdgesNamingTheRow) {
  graphContext();
  std::vector<int32_t> sources{0, 1, 2, 7}, targets{1, 2, 0, 1}, relations{0, 1, 0, 1};
  auto s = DeviceBuffer::from(sources), t = DeviceBuffer::from(targets), r = DeviceBuffer::from(relations);
  try {
    relationGraphGpu(s.get(), t.get(), r.get(), 4, 3, 2, RelationNormalization::Mean, true, nullptr);
    FAIL() << "an edge from node 7 of 3 was accepted";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("edge row 3 (src 7, dst 1, relation 1): src 7 is outside [0, 3)"),
              std::string::npos)
        << e.what();
  }
  relations[1] = 2;
  sources[3] = 0;
  r = DeviceBuffer::from(relations);
  s = DeviceBuffer::from(sources);
  EXPECT_THROW(relationGraphGpu(s.get(), t.get(), r.get(), 4, 3, 2, RelationNormalization::Sum, false, nullptr),
               RuntimeError);
}

TEST(RgcnOnGpu, RefusesAKernelWithoutPairWeightsOnANormalisedGraph) {
  Context &convolutions = testclouds::context();
  const skg_kernel_record *unweighted = nullptr;
  for (const skg_kernel_record *kernel : convolutions.kernels())
    if (kernel->dataflow == SKG_FETCH_ON_DEMAND && kernel->operation == SKG_FORWARD && !takesPairWeights(*kernel)) {
      unweighted = kernel;
      break;
    }
  ASSERT_NE(unweighted, nullptr);
  const DeviceRelationGraph device = relationGraphGpu(aifbSized(), RelationNormalization::Mean, true, nullptr);
  DeviceBuffer x(static_cast<size_t>(aifbSized().nodes) * 32 * 2), w(static_cast<size_t>(46) * 32 * 32 * 2),
      y(static_cast<size_t>(aifbSized().nodes) * 32 * 2);
  RgcnForwardArguments args{x.get(), w.get(), 0, y.get(), 32, 32};
  try {
    rgcnForward(convolutions, *unweighted, device, args, nullptr);
    FAIL() << "a kernel without pair weights ran a mean-normalised graph";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("takes no pair weights"), std::string::npos) << e.what();
  }
}

} // namespace
} // namespace sparsekgen
