// The one context of the GPU tests over the graph bundle (templates/catalogs/graph.json), opened on
// first use.
#pragma once

#include "sparsekgen/Context.h"
#include "sparsekgen_graph_kernels.h"

namespace sparsekgen::testgraphs {

inline Context &graphContext() {
  static Context instance(0, sparsekgen_graph_kernels);
  return instance;
}

} // namespace sparsekgen::testgraphs
