#include "sparsekgen/Graph.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <tuple>

#include <fmt/format.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/SchemaValidation.h"
#include "tuning/JsonReader.h"
#include "tuning/WorkloadParsing.h"

namespace sparsekgen {

namespace {

// The whole file as `count` little-endian 4-byte values, refusing a size that is not a whole
// number of rows of `rowValues`.
template <typename T> std::vector<T> readRows(const std::string &path, size_t rowValues, const char *what) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file)
    throw RuntimeError(fmt::format("{}: cannot open the {} file", path, what));
  const auto bytes = static_cast<size_t>(file.tellg());
  const size_t rowBytes = rowValues * sizeof(T);
  if (bytes % rowBytes != 0)
    throw RuntimeError(fmt::format("{}: {} bytes is not a whole number of {}-byte {} rows", path, bytes, rowBytes, what));
  std::vector<T> values(bytes / sizeof(T));
  file.seekg(0);
  file.read(reinterpret_cast<char *>(values.data()), static_cast<std::streamsize>(bytes));
  return values;
}

// Edges grouped by relation, then by destination, then by source: the pair-list order.
bool pairListOrder(const GraphEdge &a, const GraphEdge &b) {
  return std::tie(a.relation, a.target, a.source) < std::tie(b.relation, b.target, b.source);
}

} // namespace

RelationalGraph makeRelationalGraph(int64_t nodes, int32_t relations, std::vector<GraphEdge> edges,
                                    const std::string &source) {
  if (nodes < 1 || nodes > INT32_MAX)
    throw RuntimeError(fmt::format("{}: {} nodes; a graph has 1 to 2^31 - 1", source, nodes));
  if (relations < 1)
    throw RuntimeError(fmt::format("{}: {} relations; a graph has at least one", source, relations));
  if (edges.empty())
    throw RuntimeError(fmt::format("{}: the graph has no edges (its convolution would be the self term alone)", source));
  RelationalGraph graph;
  graph.source = source;
  graph.nodes = nodes;
  graph.relations = relations;
  for (size_t row = 0; row < edges.size(); ++row) {
    const GraphEdge &e = edges[row];
    auto refuse = [&](const char *field, int64_t value, int64_t end) {
      throw RuntimeError(fmt::format("{}: edge row {} (src {}, dst {}, relation {}): {} {} is outside [0, {})", source,
                                     row, e.source, e.target, e.relation, field, value, end));
    };
    if (e.source < 0 || e.source >= nodes)
      refuse("src", e.source, nodes);
    if (e.target < 0 || e.target >= nodes)
      refuse("dst", e.target, nodes);
    if (e.relation < 0 || e.relation >= relations)
      refuse("relation", e.relation, relations);
    graph.selfLoops += e.source == e.target;
  }
  std::vector<GraphEdge> sorted = edges;
  std::sort(sorted.begin(), sorted.end(), pairListOrder);
  for (size_t i = 1; i < sorted.size(); ++i)
    graph.duplicateEdges += sorted[i].relation == sorted[i - 1].relation && sorted[i].target == sorted[i - 1].target &&
                            sorted[i].source == sorted[i - 1].source;
  graph.edges = std::move(edges);
  return graph;
}

RelationalGraph loadRelationalGraph(const std::string &path) {
  const std::string document = "graph " + path;
  const nlohmann::json json = readJsonDocument(path, "graph");
  const JsonReader r(document);
  if (!json.is_object() || !json.contains("format") || json["format"] != "sparsekgen-graph")
    r.fail("/format", "not a sparsekgen graph (expected \"format\": \"sparsekgen-graph\")");
  if (r.get<int>(json, "", "version") != 1)
    r.fail("/version", "version is not 1");
  const int64_t nodes = r.get<int64_t>(json, "", "nodes");
  const int32_t relations = r.get<int32_t>(json, "", "relations");
  validateAgainstSchema(json, "graph.schema.json", document); // unknown fields, bounds
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  const std::string edgePath = (folder / r.get<std::string>(json, "", "edges")).string();
  const auto raw = readRows<int32_t>(edgePath, 3, "edge (int32 src, dst, relation)");
  std::vector<GraphEdge> edges(raw.size() / 3);
  for (size_t e = 0; e < edges.size(); ++e)
    edges[e] = {raw[3 * e], raw[3 * e + 1], raw[3 * e + 2]};
  RelationalGraph graph = makeRelationalGraph(nodes, relations, std::move(edges), edgePath);
  graph.source = path;
  graph.name = r.get<std::string>(json, "", "name", std::filesystem::path(path).stem().string());
  graph.relationNames = r.get<std::vector<std::string>>(json, "", "relation_names", std::vector<std::string>{});
  if (!graph.relationNames.empty() && static_cast<int32_t>(graph.relationNames.size()) != relations)
    r.fail("/relation_names", fmt::format("{} names for {} relations", graph.relationNames.size(), relations));
  if (json.contains("features")) {
    const nlohmann::json &features = json["features"];
    graph.featureChannels = r.get<int32_t>(features, "/features", "channels");
    const std::string featurePath = (folder / r.get<std::string>(features, "/features", "file")).string();
    graph.features = readRows<float>(featurePath, static_cast<size_t>(graph.featureChannels), "feature (float32)");
    if (static_cast<int64_t>(graph.features.size() / graph.featureChannels) != nodes)
      throw RuntimeError(fmt::format("{}: {} feature rows for {} nodes", featurePath,
                                     graph.features.size() / graph.featureChannels, nodes));
    for (size_t i = 0; i < graph.features.size(); ++i)
      if (!std::isfinite(graph.features[i]))
        throw RuntimeError(fmt::format("{}: node {} channel {} is not finite", featurePath,
                                       i / graph.featureChannels, i % graph.featureChannels));
  }
  return graph;
}

RelationPairs relationPairs(const RelationalGraph &graph) {
  std::vector<GraphEdge> sorted = graph.edges;
  std::stable_sort(sorted.begin(), sorted.end(), pairListOrder);
  RelationPairs pairs;
  pairs.pairOffsets.assign(static_cast<size_t>(graph.relations) + 1, 0);
  for (const GraphEdge &e : sorted) {
    pairs.pairInputs.push_back(e.source);
    pairs.pairOutputs.push_back(e.target);
    ++pairs.pairOffsets[static_cast<size_t>(e.relation) + 1];
  }
  for (size_t r = 0; r < static_cast<size_t>(graph.relations); ++r) {
    pairs.largestRelation = std::max(pairs.largestRelation, pairs.pairOffsets[r + 1]);
    pairs.pairOffsets[r + 1] += pairs.pairOffsets[r];
  }
  return pairs;
}

RelationNormalization parseRelationNormalization(const std::string &spelling) {
  if (spelling == "sum")
    return RelationNormalization::Sum;
  if (spelling == "mean")
    return RelationNormalization::Mean;
  if (spelling == "symmetric")
    return RelationNormalization::Symmetric;
  throw RuntimeError(fmt::format("normalization '{}': expected sum, mean or symmetric", spelling));
}

std::vector<double> edgeNormalization(const RelationalGraph &graph, RelationNormalization normalization) {
  // Degrees per (relation, node): in-degree of destinations, out-degree of sources.
  std::map<std::pair<int32_t, int32_t>, int64_t> inDegree, outDegree;
  for (const GraphEdge &e : graph.edges) {
    ++inDegree[{e.relation, e.target}];
    ++outDegree[{e.relation, e.source}];
  }
  std::vector<double> norms;
  norms.reserve(graph.edges.size());
  for (const GraphEdge &e : graph.edges) {
    double norm = 1.0;
    if (normalization == RelationNormalization::Mean)
      norm = 1.0 / static_cast<double>(inDegree[{e.relation, e.target}]);
    else if (normalization == RelationNormalization::Symmetric)
      norm = 1.0 / std::sqrt(static_cast<double>(inDegree[{e.relation, e.target}]) *
                             static_cast<double>(outDegree[{e.relation, e.source}]));
    norms.push_back(norm);
  }
  return norms;
}

namespace {

void requireLayerSizes(const RelationalGraph &graph, size_t xSize, int inChannels, int outChannels, size_t weightSize,
                       size_t selfWeightSize, size_t biasSize) {
  const size_t nodes = static_cast<size_t>(graph.nodes), cin = inChannels, cout = outChannels;
  if (xSize != nodes * cin || weightSize != static_cast<size_t>(graph.relations) * cin * cout ||
      (selfWeightSize != 0 && selfWeightSize != cin * cout) || (biasSize != 0 && biasSize != cout))
    throw RuntimeError(fmt::format("R-GCN reference on {}: tensor sizes do not match {} nodes, {} relations, Cin {}, "
                                   "Cout {}",
                                   graph.source, nodes, graph.relations, cin, cout));
}

} // namespace

namespace {

template <typename Element>
std::vector<double> rgcnForwardInFloat64(const RelationalGraph &graph, const std::vector<Element> &x, int inChannels,
                                         int outChannels, const std::vector<float> &weights,
                                         const std::vector<float> &selfWeight, const std::vector<float> &bias,
                                         RelationNormalization normalization) {
  requireLayerSizes(graph, x.size(), inChannels, outChannels, weights.size(), selfWeight.size(), bias.size());
  const size_t nodes = static_cast<size_t>(graph.nodes), cin = inChannels, cout = outChannels;
  const std::vector<double> norms = edgeNormalization(graph, normalization);
  std::vector<double> out(nodes * cout, 0.0);
  for (size_t edge = 0; edge < graph.edges.size(); ++edge) {
    const GraphEdge &e = graph.edges[edge];
    const double norm = norms[edge];
    const float *w = weights.data() + static_cast<size_t>(e.relation) * cin * cout;
    const Element *xj = x.data() + static_cast<size_t>(e.source) * cin;
    double *oi = out.data() + static_cast<size_t>(e.target) * cout;
    for (size_t c = 0; c < cin; ++c)
      for (size_t o = 0; o < cout; ++o)
        oi[o] += norm * static_cast<double>(xj[c]) * static_cast<double>(w[c * cout + o]);
  }
  for (size_t i = 0; i < nodes; ++i) {
    double *oi = out.data() + i * cout;
    if (!selfWeight.empty())
      for (size_t c = 0; c < cin; ++c)
        for (size_t o = 0; o < cout; ++o)
          oi[o] += static_cast<double>(x[i * cin + c]) * static_cast<double>(selfWeight[c * cout + o]);
    if (!bias.empty())
      for (size_t o = 0; o < cout; ++o)
        oi[o] += bias[o];
  }
  return out;
}

} // namespace

std::vector<double> referenceRgcnForward(const RelationalGraph &graph, const std::vector<float> &x, int inChannels,
                                         int outChannels, const std::vector<float> &weights,
                                         const std::vector<float> &selfWeight, const std::vector<float> &bias,
                                         RelationNormalization normalization) {
  return rgcnForwardInFloat64(graph, x, inChannels, outChannels, weights, selfWeight, bias, normalization);
}

std::vector<double> referenceRgcnForward(const RelationalGraph &graph, const std::vector<double> &x, int inChannels,
                                         int outChannels, const std::vector<float> &weights,
                                         const std::vector<float> &selfWeight, const std::vector<float> &bias,
                                         RelationNormalization normalization) {
  return rgcnForwardInFloat64(graph, x, inChannels, outChannels, weights, selfWeight, bias, normalization);
}

RgcnGradients referenceRgcnBackward(const RelationalGraph &graph, const std::vector<float> &x,
                                    const std::vector<float> &outputGrad, int inChannels, int outChannels,
                                    const std::vector<float> &weights, const std::vector<float> &selfWeight,
                                    RelationNormalization normalization) {
  requireLayerSizes(graph, x.size(), inChannels, outChannels, weights.size(), selfWeight.size(), 0);
  const size_t nodes = static_cast<size_t>(graph.nodes), cin = inChannels, cout = outChannels;
  if (outputGrad.size() != nodes * cout)
    throw RuntimeError(fmt::format("R-GCN backward reference on {}: dy has {} values for {} nodes x Cout {}",
                                   graph.source, outputGrad.size(), nodes, cout));
  const std::vector<double> norms = edgeNormalization(graph, normalization);
  RgcnGradients g;
  g.inputGrad.assign(nodes * cin, 0.0);
  g.weightGrad.assign(static_cast<size_t>(graph.relations) * cin * cout, 0.0);
  if (!selfWeight.empty())
    g.selfWeightGrad.assign(cin * cout, 0.0);
  g.biasGrad.assign(cout, 0.0);
  // One message: out[i] += norm x[j] W, so dx[j] += norm dy[i] W^T and dW += norm x[j]^T dy[i].
  auto message = [&](size_t j, size_t i, double norm, const float *w, double *dw) {
    const float *xj = x.data() + j * cin;
    const float *dyi = outputGrad.data() + i * cout;
    double *dxj = g.inputGrad.data() + j * cin;
    for (size_t c = 0; c < cin; ++c)
      for (size_t o = 0; o < cout; ++o) {
        dxj[c] += norm * static_cast<double>(dyi[o]) * static_cast<double>(w[c * cout + o]);
        dw[c * cout + o] += norm * static_cast<double>(xj[c]) * static_cast<double>(dyi[o]);
      }
  };
  for (size_t edge = 0; edge < graph.edges.size(); ++edge) {
    const GraphEdge &e = graph.edges[edge];
    const size_t slab = static_cast<size_t>(e.relation) * cin * cout;
    message(static_cast<size_t>(e.source), static_cast<size_t>(e.target), norms[edge], weights.data() + slab,
            g.weightGrad.data() + slab);
  }
  for (size_t i = 0; i < nodes; ++i) {
    if (!selfWeight.empty())
      message(i, i, 1.0, selfWeight.data(), g.selfWeightGrad.data());
    for (size_t o = 0; o < cout; ++o)
      g.biasGrad[o] += outputGrad[i * cout + o];
  }
  return g;
}

} // namespace sparsekgen
