// Relational graphs (Graph.h): the loader's refusals naming the file, row and field; self loops and
// duplicate edges counted; the per-relation pair lists; the float64 R-GCN layer against sums
// written out by hand on a small graph.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "sparsekgen/Errors.h"
#include "sparsekgen/Graph.h"

namespace sparsekgen {
namespace {

namespace fs = std::filesystem;

std::string thrownBy(const std::function<void()> &f) {
  try {
    f();
  } catch (const RuntimeError &error) {
    return error.what();
  }
  return "";
}

// 4 nodes, 2 relations: 0 -> 1 (r0), 2 -> 1 (r0), 1 -> 1 (r1, a self loop), 3 -> 0 (r1), 3 -> 0 (r1 again).
std::vector<GraphEdge> smallEdges() { return {{0, 1, 0}, {2, 1, 0}, {1, 1, 1}, {3, 0, 1}, {3, 0, 1}}; }

TEST(RelationalGraph, EdgesOutsideTheGraphAreRefusedNamingTheRow) {
  auto edges = smallEdges();
  edges[3].target = 4;
  EXPECT_NE(thrownBy([&] { makeRelationalGraph(4, 2, edges, "g"); })
                .find("g: edge row 3 (src 3, dst 4, relation 1): dst 4 is outside [0, 4)"),
            std::string::npos);
  edges = smallEdges();
  edges[1].relation = 2;
  EXPECT_NE(thrownBy([&] { makeRelationalGraph(4, 2, edges, "g"); }).find("edge row 1 (src 2, dst 1, relation 2): "
                                                                           "relation 2 is outside [0, 2)"),
            std::string::npos);
  edges = smallEdges();
  edges[0].source = -1;
  EXPECT_NE(thrownBy([&] { makeRelationalGraph(4, 2, edges, "g"); }).find("src -1 is outside [0, 4)"), std::string::npos);
  EXPECT_NE(thrownBy([&] { makeRelationalGraph(4, 2, {}, "g"); }).find("the graph has no edges"), std::string::npos);
  EXPECT_NE(thrownBy([&] { makeRelationalGraph(0, 2, smallEdges(), "g"); }).find("0 nodes"), std::string::npos);
}

TEST(RelationalGraph, SelfLoopsAndDuplicatesAreKeptAndCounted) {
  RelationalGraph graph = makeRelationalGraph(4, 2, smallEdges(), "g");
  EXPECT_EQ(graph.selfLoops, 1);
  EXPECT_EQ(graph.duplicateEdges, 1);
  EXPECT_EQ(graph.edges.size(), 5u);
}

TEST(RelationalGraph, PairListsAreGroupedByRelationAndSortedByDestination) {
  RelationPairs pairs = relationPairs(makeRelationalGraph(4, 2, smallEdges(), "g"));
  EXPECT_EQ(pairs.pairOffsets, (std::vector<int64_t>{0, 2, 5}));
  EXPECT_EQ(pairs.pairInputs, (std::vector<int32_t>{0, 2, 3, 3, 1}));
  EXPECT_EQ(pairs.pairOutputs, (std::vector<int32_t>{1, 1, 0, 0, 1}));
  EXPECT_EQ(pairs.largestRelation, 3);
}

TEST(RelationalGraph, ReferenceLayerMatchesHandWrittenSums) {
  RelationalGraph graph = makeRelationalGraph(4, 2, smallEdges(), "g");
  // Cin = Cout = 1: W_0 = 2, W_1 = 3, W_self = 0.5, bias 0.25; x = 1, 2, 3, 4.
  const std::vector<float> x = {1, 2, 3, 4}, w = {2, 3}, self = {0.5f}, bias = {0.25f};
  auto sum = referenceRgcnForward(graph, x, 1, 1, w, self, bias, RelationNormalization::Sum);
  // node 0: 2 x (x3 W1) = 24; node 1: (x0 + x2) W0 + x1 W1 = 8 + 6 = 14; nodes 2, 3: no edges in.
  EXPECT_DOUBLE_EQ(sum[0], 24 + 0.5 * 1 + 0.25);
  EXPECT_DOUBLE_EQ(sum[1], 14 + 0.5 * 2 + 0.25);
  EXPECT_DOUBLE_EQ(sum[2], 0.5 * 3 + 0.25);
  EXPECT_DOUBLE_EQ(sum[3], 0.5 * 4 + 0.25);
  auto mean = referenceRgcnForward(graph, x, 1, 1, w, {}, {}, RelationNormalization::Mean);
  EXPECT_DOUBLE_EQ(mean[0], 12);     // two messages of relation 1, averaged
  EXPECT_DOUBLE_EQ(mean[1], 4 + 6);  // relation 0: (2 + 6) / 2; relation 1: one message
  auto symmetric = referenceRgcnForward(graph, x, 1, 1, w, {}, {}, RelationNormalization::Symmetric);
  // node 0, relation 1: in-degree 2, node 3's out-degree 2: 2 x 12 / sqrt(4).
  EXPECT_DOUBLE_EQ(symmetric[0], 12);
  // node 1: relation 0 from 0 and 2 (out-degree 1 each, in-degree 2), relation 1 from itself (1, 1).
  EXPECT_DOUBLE_EQ(symmetric[1], (2 + 6) / std::sqrt(2.0) + 6);
}

// The layer is linear in x and in W: for any dy and direction v, <dy, F(v)> = <dx, v> where F is the
// layer without self term and bias as a function of x (likewise of W), and dx the reference's
// gradient; the self term's and the bias's gradients are checked the same way.
TEST(RelationalGraph, ReferenceGradientsAreTheLayersAdjoints) {
  RelationalGraph graph = makeRelationalGraph(5, 3, {{0, 1, 0}, {2, 1, 0}, {1, 1, 1}, {3, 0, 1}, {3, 0, 1}, {4, 2, 2},
                                                     {0, 4, 2}, {1, 3, 0}},
                                              "g");
  const int cin = 3, cout = 2;
  auto values = [](size_t n, float scale) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i)
      v[i] = scale * static_cast<float>(std::sin(1.0 + 1.7 * static_cast<double>(i)));
    return v;
  };
  const auto x = values(5 * cin, 1.0f), w = values(3 * cin * cout, 0.5f), self = values(cin * cout, 0.25f);
  const auto dy = values(5 * cout, 0.75f), direction = values(5 * cin, 0.3f);
  const auto dot = [](const std::vector<double> &a, const std::vector<float> &b) {
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i)
      sum += a[i] * b[i];
    return sum;
  };
  for (RelationNormalization n : {RelationNormalization::Sum, RelationNormalization::Mean,
                                  RelationNormalization::Symmetric}) {
    const RgcnGradients g = referenceRgcnBackward(graph, x, dy, cin, cout, w, self, n);
    // x: F(v) = layer(v) with W and W_self, no bias.
    EXPECT_NEAR(dot(referenceRgcnForward(graph, direction, cin, cout, w, self, {}, n), dy),
                dot(g.inputGrad, direction), 1e-9);
    // W: layer(x) with relation weights u, no self term.
    const auto u = values(3 * cin * cout, -0.4f);
    EXPECT_NEAR(dot(referenceRgcnForward(graph, x, cin, cout, u, {}, {}, n), dy), dot(g.weightGrad, u), 1e-9);
    // W_self: x_i u for every node.
    const auto us = values(cin * cout, 0.6f);
    const std::vector<float> zeros(3 * cin * cout, 0.0f);
    EXPECT_NEAR(dot(referenceRgcnForward(graph, x, cin, cout, zeros, us, {}, n), dy), dot(g.selfWeightGrad, us),
                1e-9);
    // The bias: dy's column sums.
    EXPECT_NEAR(g.biasGrad[0], dy[0] + dy[2] + dy[4] + dy[6] + dy[8], 1e-12);
  }
}

TEST(RelationalGraph, EdgeNormalizationFollowsTheDegrees) {
  RelationalGraph graph = makeRelationalGraph(4, 2, smallEdges(), "g");
  const auto mean = edgeNormalization(graph, RelationNormalization::Mean);
  const auto symmetric = edgeNormalization(graph, RelationNormalization::Symmetric);
  // 0 -> 1 (r0): node 1 has 2 messages of r0, node 0 sends 1: mean 1/2, symmetric 1/sqrt(2).
  EXPECT_DOUBLE_EQ(mean[0], 0.5);
  EXPECT_DOUBLE_EQ(symmetric[0], 1 / std::sqrt(2.0));
  // 3 -> 0 (r1) twice: node 0 receives 2, node 3 sends 2: 1/2 both ways.
  EXPECT_DOUBLE_EQ(mean[3], 0.5);
  EXPECT_DOUBLE_EQ(symmetric[4], 0.5);
  for (double v : edgeNormalization(graph, RelationNormalization::Sum))
    EXPECT_EQ(v, 1.0);
}

TEST(RelationalGraph, DocumentsAreReadWithTheirFilesAndRefusedWithPointers) {
  const fs::path dir = fs::temp_directory_path() / "sparsekgen-graph-test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream edges(dir / "g.edges.i32", std::ios::binary);
    for (const GraphEdge &e : smallEdges())
      edges.write(reinterpret_cast<const char *>(&e), sizeof e);
    std::ofstream features(dir / "g.x.f32", std::ios::binary);
    const float values[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    features.write(reinterpret_cast<const char *>(values), sizeof values);
  }
  auto write = [&](const std::string &text) {
    std::ofstream(dir / "g.json") << text;
    return (dir / "g.json").string();
  };
  RelationalGraph graph = loadRelationalGraph(write(R"({"format": "sparsekgen-graph", "version": 1, "name": "small",
      "nodes": 4, "relations": 2, "relation_names": ["cites", "self"], "edges": "g.edges.i32",
      "features": {"file": "g.x.f32", "channels": 2}})"));
  EXPECT_EQ(graph.name, "small");
  EXPECT_EQ(graph.edges.size(), 5u);
  EXPECT_EQ(graph.features.size(), 8u);
  EXPECT_EQ(graph.relationNames.size(), 2u);

  EXPECT_NE(thrownBy([&] {
              loadRelationalGraph(write(R"({"format": "sparsekgen-graph", "version": 1, "nodes": 4, "relations": 2,
                  "edges": "g.edges.i32", "feature": {}})"));
            }).find("unknown field 'feature'"),
            std::string::npos);
  EXPECT_NE(thrownBy([&] {
              loadRelationalGraph(write(R"({"format": "sparsekgen-graph", "version": 1, "nodes": 3, "relations": 2,
                  "edges": "g.edges.i32"})"));
            }).find("g.edges.i32: edge row 3 (src 3, dst 0, relation 1): src 3 is outside [0, 3)"),
            std::string::npos);
  EXPECT_NE(thrownBy([&] {
              loadRelationalGraph(write(R"({"format": "sparsekgen-graph", "version": 1, "nodes": 4, "relations": 2,
                  "edges": "g.edges.i32", "features": {"file": "g.x.f32", "channels": 3}})"));
            }).find("is not a whole number of 12-byte feature (float32) rows"),
            std::string::npos);
  EXPECT_NE(thrownBy([&] {
              loadRelationalGraph(write(R"({"format": "sparsekgen-graph", "version": 1, "nodes": 4, "relations": 2,
                  "relation_names": ["a"], "edges": "g.edges.i32"})"));
            }).find("/relation_names: 1 names for 2 relations"),
            std::string::npos);
  fs::remove_all(dir);
}

} // namespace
} // namespace sparsekgen
