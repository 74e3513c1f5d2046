// Limits on the JSON documents sparsekgen reads (specs, catalogs, manifests, networks, workloads,
// config tables), shared by the generator's and the runtime's parsers.
#pragma once

namespace sparsekgen {

// How deep a document may nest: sparsekgen's own nest 6 levels at most, and a deeper document
// (10^5 levels crashed the readers by recursion) is refused while it is parsed, before it is built.
inline constexpr int kMaxJsonDepth = 64;

} // namespace sparsekgen
