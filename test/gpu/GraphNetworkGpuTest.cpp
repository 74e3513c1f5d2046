// Graph networks on the GPU (GraphNetworkExecutor over the graph bundle): a description with three
// rgcn layers (mean with root, bias and fused ReLU; symmetric without root, followed by batch norm
// and a residual add the kernels do not fuse; sum over a concatenation) on a synthetic graph of
// AIFB's counts, in every element type, against the float64 reference network. Refusals: a network
// over coordinates, a run before a graph is set, a graph of other relations, an edge out of range.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/GraphNetworkExecutor.h"
#include "sparsekgen/Reference.h"
#include "GraphTestContext.h"
#include "SyntheticGraphs.h"

namespace sparsekgen {
namespace {

using testgraphs::graphContext;

Network threeLayerNetwork(const std::string &dtype, int relations) {
  return parseNetwork(R"({"name": "rgcn3", "dtype": ")" + dtype + R"(", "input_channels": 12,
    "graph": {"relations": )" + std::to_string(relations) + R"(},
    "nodes": [
      {"name": "l1", "op": "rgcn", "input": "input", "out_channels": 16, "bias": true},
      {"name": "l1.relu", "op": "relu", "input": "l1"},
      {"name": "l2", "op": "rgcn", "input": "l1.relu", "out_channels": 16, "aggregation": "symmetric", "root": false},
      {"name": "l2.bn", "op": "batch_norm", "input": "l2"},
      {"name": "l2.add", "op": "add", "inputs": ["l2.bn", "l1.relu"]},
      {"name": "cat", "op": "concat", "inputs": ["l2.add", "input"]},
      {"name": "l3", "op": "rgcn", "input": "cat", "out_channels": 5, "aggregation": "sum", "bias": true}],
    "outputs": ["l3", "l1.relu"]})",
                      "rgcn3 (" + dtype + ")");
}

const RelationalGraph &aifbSized() {
  static const RelationalGraph graph = testgraphs::syntheticAifbSizedGraph();
  return graph;
}

// Relative L2 error bounds through three layers: bf16 keeps 8 mantissa bits, fp16 11, tf32 10;
// exact fp32 only reorders sums. A wrong pair list, weight slab or fused op is off by O(1).
double toleranceOf(const std::string &dtype, bool tf32) {
  return dtype == "bf16" ? 3e-2 : dtype == "f16" ? 5e-3 : tf32 ? 5e-3 : 1e-5;
}

struct TypeCase {
  std::string dtype;
  bool tf32;
};

class GraphNetworkOnGpu : public testing::TestWithParam<TypeCase> {};

TEST_P(GraphNetworkOnGpu, MatchesTheFloat64ReferenceNetwork) {
  const auto [dtype, tf32] = GetParam();
  Context &gpu = graphContext();
  const RelationalGraph &graph = aifbSized();
  const Network network = threeLayerNetwork(dtype, graph.relations);
  const NetworkParameters parameters = randomParameters(network, 17);
  const std::vector<float> features = randomFeatures(network, static_cast<size_t>(graph.nodes), 18);
  GraphNetworkExecutor executor(gpu, network, parameters, {tf32});
  // The first layer fuses its bias and ReLU; the second runs batch norm and the residual add after
  // its kernel; the third fuses its bias.
  ASSERT_EQ(executor.dispatches().size(), 3u);
  EXPECT_EQ(executor.dispatches()[0].fused, (std::vector<std::string>{"bias", "relu"}));
  EXPECT_EQ(executor.dispatches()[1].unfused, (std::vector<std::string>{"scale_shift", "residual_add"}));
  EXPECT_EQ(executor.dispatches()[2].fused, (std::vector<std::string>{"bias"}));
  // With tf32 asked for, the layers a tf32 kernel takes (channels divisible by its alignment, 4) run
  // on one; the last (5 outputs) falls back to an exact kernel of alignment 1.
  for (size_t layer = 0; layer < 2; ++layer)
    EXPECT_EQ(executor.dispatches()[layer].kernel.find("tf32") != std::string::npos, tf32)
        << executor.dispatches()[layer].kernel;
  executor.setGraph(graph);
  const uint32_t type = dtypeFromName(dtype);
  auto input = DeviceBuffer::from(encodeElements(features, type));
  const auto expected = referenceGraphNetworkForward(network, parameters, graph, features);
  // Twice: the second run reuses the graph's pair lists and must give the same outputs.
  for (int run = 0; run < 2; ++run) {
    auto outputs = executor.run(input.get(), /*profile=*/run == 1);
    gpu.synchronize("graph network run");
    for (const auto &[name, tensor] : outputs) {
      SCOPED_TRACE(name);
      ASSERT_EQ(tensor.rows, graph.nodes);
      const auto values = decodeElements(tensor.storage.download<uint8_t>(), type);
      const double error = relativeError(values, expected.at(name));
      double rms = 0;
      for (double v : expected.at(name))
        rms += v * v;
      rms = std::sqrt(rms / expected.at(name).size());
      std::printf("graph network %s%s, output %s: relative error %.2e (reference rms %.3f)\n", dtype.c_str(),
                  tf32 ? " tf32" : "", name.c_str(), error, rms);
      EXPECT_LE(error, toleranceOf(dtype, tf32));
      EXPECT_GT(rms, 1e-2) << "activations vanished; the comparison would prove nothing";
    }
  }
  EXPECT_EQ(executor.stepMilliseconds().size(), executor.plan().size());
  for (size_t i = 0; i < executor.dispatches().size(); ++i)
    std::printf("  %s: %s\n", executor.dispatches()[i].layer.c_str(), executor.dispatches()[i].kernel.c_str());
}

INSTANTIATE_TEST_SUITE_P(EveryType, GraphNetworkOnGpu,
                         testing::Values(TypeCase{"f16", false}, TypeCase{"bf16", false}, TypeCase{"f32", false},
                                         TypeCase{"f32", true}),
                         [](const testing::TestParamInfo<TypeCase> &info) {
                           return info.param.dtype + (info.param.tf32 ? "_tf32" : "");
                         });

std::string thrownBy(const std::function<void()> &call) {
  try {
    call();
  } catch (const RuntimeError &error) {
    return error.what();
  }
  return "";
}

TEST(GraphNetworkRefusals, NameWhatIsWrong) {
  Context &gpu = graphContext();
  const Network network = threeLayerNetwork("f16", 3);
  const NetworkParameters parameters = randomParameters(network, 1);
  GraphNetworkExecutor executor(gpu, network, parameters);
  auto features = DeviceBuffer::from(encodeElements(randomFeatures(network, 4, 2), SKG_F16));
  EXPECT_NE(thrownBy([&] { executor.run(features.get()); }).find("no graph set"), std::string::npos);
  EXPECT_NE(thrownBy([&] { executor.setGraph(makeRelationalGraph(4, 2, {{0, 1, 1}}, "two relations")); })
                .find("2 relations, network rgcn3 takes graphs of 3"),
            std::string::npos);
  // An edge past the nodes, given as device arrays: found on the device, named by its row.
  auto sources = DeviceBuffer::from(std::vector<int32_t>{0, 1, 9}), targets = DeviceBuffer::from(std::vector<int32_t>{1, 2, 3}),
       relations = DeviceBuffer::from(std::vector<int32_t>{0, 2, 1});
  EXPECT_NE(thrownBy([&] { executor.setGraph(sources.get(), targets.get(), relations.get(), 3, 4); }).find("row 2"),
            std::string::npos);
  // A missing parameter, and a network over coordinates.
  NetworkParameters missing = parameters;
  missing.erase("l2.weight");
  EXPECT_NE(thrownBy([&] { GraphNetworkExecutor(gpu, network, missing); }).find("parameter 'l2.weight' is missing"),
            std::string::npos);
  const Network coordinates = parseNetwork(R"({"name": "c", "dtype": "f16", "input_channels": 4,
    "maps": [{"name": "s", "coordinates": "l0", "kernel_size": [3, 3, 3], "stride": [1, 1, 1]}],
    "nodes": [{"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 8}], "outputs": ["a"]})",
                                           "c.json");
  EXPECT_NE(thrownBy([&] { GraphNetworkExecutor(gpu, coordinates, randomParameters(coordinates, 1)); })
                .find("not a graph network"),
            std::string::npos);
}

} // namespace
} // namespace sparsekgen
