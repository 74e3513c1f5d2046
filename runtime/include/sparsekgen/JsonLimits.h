// Limits on the JSON documents sparsekgen reads (specs, catalogs, manifests, networks, workloads,
// config tables), shared by the generator's and the runtime's parsers.
#pragma once

#include <nlohmann/json.hpp>

namespace sparsekgen {

// How deep a document may nest: sparsekgen's own nest 6 levels at most, and a deeper document
// (10^5 levels crashed the readers by recursion) is refused while it is parsed, before it is built.
inline constexpr int kMaxJsonDepth = 64;

// The parser callback (nlohmann::json::parse(input, callback)) that calls `refuse` (which throws
// the parser's own error naming the document) on the first object or array past kMaxJsonDepth.
template <typename Refuse> auto jsonDepthLimit(Refuse refuse) {
  return [refuse](int depth, nlohmann::json::parse_event_t event, nlohmann::json &) {
    if (depth >= kMaxJsonDepth &&
        (event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start))
      refuse();
    return true;
  };
}

} // namespace sparsekgen
