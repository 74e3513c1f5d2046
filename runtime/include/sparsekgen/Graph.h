// Relational graphs for relational graph convolution (R-GCN): nodes, typed directed edges and
// optional node features (schemas/graph.schema.json, docs/graphs.md), and the graph as a kernel map
// of the runtime's pair-list dataflows: one offset per relation, whose pairs are its edges
// (input = source node, output = destination node). CPU only.
//
// Self loops are ordinary edges of their relation and duplicate edges separate messages, as in
// PyTorch Geometric's RGCNConv; the loader counts both so a user sees them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sparsekgen {

struct GraphEdge {
  int32_t source = 0, target = 0, relation = 0;
};

struct RelationalGraph {
  std::string name, source; // source: the file it came from, for messages
  int64_t nodes = 0;
  int32_t relations = 0;
  std::vector<std::string> relationNames; // empty, or one per relation
  std::vector<GraphEdge> edges;
  int32_t featureChannels = 0;
  std::vector<float> features; // [nodes, featureChannels] when the graph has them
  int64_t selfLoops = 0, duplicateEdges = 0;
};

// Checks every edge (RuntimeError naming the source, the edge row and the field out of range) and
// counts self loops and duplicates. An empty edge list is refused: a graph convolution of no edges
// is only its self term, almost always a mistake in the input.
RelationalGraph makeRelationalGraph(int64_t nodes, int32_t relations, std::vector<GraphEdge> edges,
                                    const std::string &source);

// A graph document (docs/graphs.md): errors name the file and the JSON pointer, or the binary file
// and its row.
RelationalGraph loadRelationalGraph(const std::string &path);

// The edges as pair lists by relation, the layout the fetch-on-demand and gather-GEMM-scatter
// dataflows read: relation r's pairs are [pairOffsets[r], pairOffsets[r + 1]), sorted by
// destination then source; pairInputs are sources, pairOutputs destinations.
struct RelationPairs {
  std::vector<int32_t> pairInputs, pairOutputs;
  std::vector<int64_t> pairOffsets; // relations + 1
  int64_t largestRelation = 0;     // the most edges of one relation
};
RelationPairs relationPairs(const RelationalGraph &graph);

// How messages are weighted: none (sum), 1 / |N_r(i)| (mean over the destination's neighbours of
// that relation, R-GCN's c_{i,r} and PyG's aggr="mean"), or 1 / sqrt(|N_r(i)| |N_r(j)|) with the
// in-degree of i and the out-degree of j in relation r (the symmetric variant).
enum class RelationNormalization { Sum, Mean, Symmetric };
// "sum", "mean" or "symmetric"; another spelling throws RuntimeError naming it.
RelationNormalization parseRelationNormalization(const std::string &spelling);

// Each edge's weight under `normalization`, in the order of graph.edges.
std::vector<double> edgeNormalization(const RelationalGraph &graph, RelationNormalization normalization);

// The float64 R-GCN layer: out_i = sum_r sum_{j in N_r(i)} norm_{r,i,j} x_j W_r + x_i W_self + b.
// x [nodes, Cin], weights [relations, Cin, Cout] (TorchSparse's [volume, Cin, Cout] layout),
// selfWeight [Cin, Cout] (empty: no self term), bias [Cout] (empty: none); returns [nodes, Cout].
std::vector<double> referenceRgcnForward(const RelationalGraph &graph, const std::vector<float> &x, int inChannels,
                                         int outChannels, const std::vector<float> &weights,
                                         const std::vector<float> &selfWeight, const std::vector<float> &bias,
                                         RelationNormalization normalization);
// The same on a float64 x (a layer deep in a reference network).
std::vector<double> referenceRgcnForward(const RelationalGraph &graph, const std::vector<double> &x, int inChannels,
                                         int outChannels, const std::vector<float> &weights,
                                         const std::vector<float> &selfWeight, const std::vector<float> &bias,
                                         RelationNormalization normalization);

// The float64 gradients of that layer for the output gradient dy [nodes, Cout]: dx [nodes, Cin],
// dW [relations, Cin, Cout], dW_self [Cin, Cout] (empty without a self term) and db [Cout].
struct RgcnGradients {
  std::vector<double> inputGrad, weightGrad, selfWeightGrad, biasGrad;
};
RgcnGradients referenceRgcnBackward(const RelationalGraph &graph, const std::vector<float> &x,
                                    const std::vector<float> &outputGrad, int inChannels, int outChannels,
                                    const std::vector<float> &weights, const std::vector<float> &selfWeight,
                                    RelationNormalization normalization);

} // namespace sparsekgen
