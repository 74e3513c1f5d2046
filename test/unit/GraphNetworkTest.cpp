// Graph networks (Network::isGraph): rgcn nodes over a relational graph in network descriptions,
// their checks, their plan and the float64 reference run.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/Graph.h"
#include "sparsekgen/Network.h"

using namespace sparsekgen;

namespace {

const std::string kGraphHeader = R"("name": "g", "dtype": "f32", "input_channels": 3, "graph": {"relations": 2},)";

Network parseGraphNetwork(const std::string &rest) {
  return parseNetwork("{" + kGraphHeader + rest + "}", "graph.json");
}

std::string errorOf(const std::string &document) {
  try {
    parseNetwork(document, "graph.json");
  } catch (const RuntimeError &error) {
    return error.what();
  }
  return "";
}

// Two R-GCN layers with a fused ReLU, a folded batch norm, a residual and a concatenation.
const std::string kTwoLayers = R"("nodes": [
  {"name": "l1", "op": "rgcn", "input": "input", "out_channels": 5, "bias": true},
  {"name": "l1.relu", "op": "relu", "input": "l1"},
  {"name": "l2", "op": "rgcn", "input": "l1.relu", "out_channels": 5, "aggregation": "symmetric", "root": false},
  {"name": "l2.bn", "op": "batch_norm", "input": "l2"},
  {"name": "l2.add", "op": "add", "inputs": ["l2.bn", "l1.relu"]},
  {"name": "cat", "op": "concat", "inputs": ["l2.add", "input"]},
  {"name": "l3", "op": "rgcn", "input": "cat", "out_channels": 2, "aggregation": "sum"}],
  "outputs": ["l3"])";

RelationalGraph smallGraph() {
  return makeRelationalGraph(5, 2, {{0, 1, 0}, {2, 1, 0}, {1, 1, 1}, {3, 0, 1}, {3, 0, 1}, {4, 2, 0}, {2, 4, 1}},
                             "small");
}

} // namespace

TEST(GraphNetwork, RgcnNodesReadTheGraphAndKeepNodeRows) {
  Network n = parseGraphNetwork(kTwoLayers);
  EXPECT_TRUE(n.isGraph());
  EXPECT_EQ(n.graphRelations, 2);
  EXPECT_TRUE(n.maps.empty());
  EXPECT_EQ(n.tensors.at("l1").level, Network::kNodeLevel);
  EXPECT_EQ(n.tensors.at("cat").channels, 5 + 3);
  EXPECT_EQ(n.findNode("l1").aggregation, "mean"); // PyG's default
  EXPECT_TRUE(n.findNode("l1").root);
  EXPECT_FALSE(n.findNode("l2").root);
  EXPECT_EQ(n.rgcnVolume(n.findNode("l1")), 3);
  EXPECT_EQ(n.rgcnVolume(n.findNode("l2")), 2);
  EXPECT_TRUE(n.workload().layers.empty()); // nothing for the convolution tuner
}

TEST(GraphNetwork, ErrorsNameThePointerAndTheProblem) {
  auto withNodes = [](const std::string &nodes) {
    return "{" + kGraphHeader + R"("nodes": [)" + nodes + R"(], "outputs": ["a"]})";
  };
  EXPECT_NE(errorOf(withNodes(R"({"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 4})"))
                .find("/nodes/0/op: a graph network's tensors are node rows"),
            std::string::npos);
  EXPECT_NE(errorOf(withNodes(R"({"name": "a", "op": "rgcn", "input": "input", "out_channels": 4,
                                  "aggregation": "max"})"))
                .find("/nodes/0/aggregation: "),
            std::string::npos);
  EXPECT_NE(errorOf(withNodes(R"({"name": "a", "op": "rgcn", "input": "input", "out_channels": 0})"))
                .find("/nodes/0/out_channels: must be at least 1"),
            std::string::npos);
  EXPECT_NE(errorOf(withNodes(R"({"name": "a", "op": "rgcn", "input": "input", "out_channels": 4, "map": "s"})"))
                .find("/nodes/0: unknown field 'map'"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"name": "g", "dtype": "f32", "input_channels": 3, "graph": {"relations": 0},
                        "nodes": [{"name": "a", "op": "relu", "input": "input"}], "outputs": ["a"]})")
                .find("/graph/relations: must be at least 1"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"name": "g", "dtype": "f32", "input_channels": 3, "graph": {"relations": 2},
                        "maps": [{"name": "s", "coordinates": "l0"}],
                        "nodes": [{"name": "a", "op": "relu", "input": "input"}], "outputs": ["a"]})")
                .find("/maps: a graph network has no maps"),
            std::string::npos);
  // rgcn in a network over coordinates.
  EXPECT_NE(errorOf(R"({"name": "c", "dtype": "f16", "input_channels": 3,
                        "maps": [{"name": "s", "coordinates": "l0"}],
                        "nodes": [{"name": "a", "op": "rgcn", "input": "input", "out_channels": 4}], "outputs": ["a"]})")
                .find("/nodes/0/op: rgcn reads a relational graph"),
            std::string::npos);
}

TEST(GraphNetwork, PlanFusesBiasAndReluIntoTheLayer) {
  Network n = parseGraphNetwork(kTwoLayers);
  auto plan = planNetwork(n);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].kind, PlanStep::Kind::Rgcn);
  EXPECT_EQ(plan[0].epilogue, (std::vector<std::string>{"bias", "relu"}));
  EXPECT_EQ(plan[0].output, "l1.relu");
  EXPECT_EQ(plan[1].kind, PlanStep::Kind::Rgcn);
  EXPECT_EQ(plan[1].epilogue, (std::vector<std::string>{"scale_shift", "residual_add"}));
  EXPECT_EQ(plan[1].residual, "l1.relu");
  EXPECT_EQ(plan[2].kind, PlanStep::Kind::Concat);
  EXPECT_EQ(plan[3].kind, PlanStep::Kind::Rgcn);
  EXPECT_TRUE(plan[3].epilogue.empty());
}

TEST(GraphNetwork, RandomParametersHaveTheRelationsAndTheSelfWeight) {
  Network n = parseGraphNetwork(kTwoLayers);
  auto parameters = randomParameters(n, 3);
  EXPECT_EQ(parameters.at("l1.weight").size(), 3u * 3 * 5); // 2 relations + W_self, Cin 3, Cout 5
  EXPECT_EQ(parameters.at("l1.bias").size(), 5u);
  EXPECT_EQ(parameters.at("l2.weight").size(), 2u * 5 * 5); // no root
  EXPECT_EQ(parameters.at("l3.weight").size(), 3u * 8 * 2);
  EXPECT_EQ(parameters.count("l2.bias"), 0u);
}

// The reference network's layers are referenceRgcnForward with the weight split into the relations'
// and W_self; the other ops as in networks over coordinates.
TEST(GraphNetwork, ReferenceRunComposesTheReferenceLayers) {
  const std::string oneLayer = R"("nodes": [
    {"name": "l1", "op": "rgcn", "input": "input", "out_channels": 4, "bias": true, "aggregation": "symmetric"},
    {"name": "l1.relu", "op": "relu", "input": "l1"}], "outputs": ["l1.relu", "l1"])";
  // l1 is an output too, so the ReLU is its own step; the reference computes both.
  Network n = parseGraphNetwork(oneLayer);
  RelationalGraph graph = smallGraph();
  auto parameters = randomParameters(n, 7);
  std::vector<float> x = randomFeatures(n, 5, 11);
  auto out = referenceGraphNetworkForward(n, parameters, graph, x);
  const auto &w = parameters.at("l1.weight");
  std::vector<float> relations(w.begin(), w.begin() + 2 * 3 * 4), self(w.begin() + 2 * 3 * 4, w.end());
  auto expected = referenceRgcnForward(graph, x, 3, 4, relations, self, parameters.at("l1.bias"),
                                       RelationNormalization::Symmetric);
  ASSERT_EQ(out.at("l1").size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(out.at("l1")[i], expected[i], 1e-12);
    EXPECT_NEAR(out.at("l1.relu")[i], std::max(expected[i], 0.0), 1e-12);
  }
  // A weight without its W_self slab, or a short bias, is refused, naming the parameter.
  auto missingSelf = parameters;
  missingSelf["l1.weight"].resize(2 * 3 * 4);
  try {
    referenceGraphNetworkForward(n, missingSelf, graph, x);
    ADD_FAILURE() << "a weight without W_self was taken";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("parameter 'l1.weight' holds 24 values, expected 36"), std::string::npos)
        << error.what();
  }
  auto shortBias = parameters;
  shortBias["l1.bias"].pop_back();
  EXPECT_THROW(referenceGraphNetworkForward(n, shortBias, graph, x), RuntimeError);
  // A graph of other relations, and coordinates for a graph network, are refused.
  RelationalGraph three = makeRelationalGraph(5, 3, {{0, 1, 2}}, "three");
  EXPECT_THROW(referenceGraphNetworkForward(n, parameters, three, x), RuntimeError);
  EXPECT_THROW(referenceNetworkForward(n, parameters, {}, x), RuntimeError);
}

TEST(GraphNetwork, TheFullDescriptionRunsInFloat64) {
  Network n = parseGraphNetwork(kTwoLayers);
  auto out = referenceGraphNetworkForward(n, randomParameters(n, 5), smallGraph(), randomFeatures(n, 5, 6));
  ASSERT_EQ(out.at("l3").size(), 5u * 2);
  for (double v : out.at("l3"))
    EXPECT_TRUE(std::isfinite(v));
}

TEST(GraphNetwork, TheBundledGraphNetworkParses) {
  Network n = loadNetwork(std::string(SPARSEKGEN_NETWORK_DIR) + "/../graphs/networks/rgcn_two_layer_aifb.json");
  EXPECT_EQ(n.graphRelations, 45);
  auto plan = planNetwork(n);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].epilogue, (std::vector<std::string>{"bias", "relu"}));
}
