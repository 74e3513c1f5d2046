// The relational graph layers of sparsekgen._gpu (GraphBindings.cpp), built where the graph bundle
// is (SPARSEKGEN_GRAPH_BUNDLE).
#pragma once

#include <nanobind/nanobind.h>

namespace sparsekgen::python {

void registerGraphBindings(nanobind::module_ &m);

} // namespace sparsekgen::python
