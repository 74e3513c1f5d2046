// Synthetic relational graphs for the GPU tests: the node, edge and relation counts of a benchmark
// graph with a skewed count of edges per relation (relation r's share is proportional to
// 1 / (r + 1)) and of in-degrees (a few hub destinations, many leaves). Not the benchmark data.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "sparsekgen/Graph.h"

namespace sparsekgen::testgraphs {

inline RelationalGraph syntheticGraph(int nodes, int edges, int relations, unsigned seed, const std::string &name) {
  std::mt19937 random(seed);
  std::vector<double> shares(relations);
  for (int r = 0; r < relations; ++r)
    shares[r] = 1.0 / (r + 1);
  std::discrete_distribution<int> relation(shares.begin(), shares.end());
  std::uniform_int_distribution<int> any(0, nodes - 1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<GraphEdge> list;
  for (int e = 0; e < edges; ++e) {
    int target = static_cast<int>(nodes * std::pow(unit(random), 3.0)); // low ids are hubs
    list.push_back({any(random), std::min(target, nodes - 1), relation(random)});
  }
  return makeRelationalGraph(nodes, relations, std::move(list), name);
}

// AIFB's counts: 8,285 nodes, 29,043 edges, 45 relations.
inline RelationalGraph syntheticAifbSizedGraph() {
  return syntheticGraph(8285, 29043, 45, 45, "synthetic graph of AIFB's counts");
}

} // namespace sparsekgen::testgraphs
