// Limits on the JSON documents sparsekgen reads (specs, catalogs, manifests, networks, workloads,
// config tables), shared by the generator's and the runtime's parsers.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sparsekgen {

// How deep a document may nest: sparsekgen's own nest 6 levels at most, and a deeper document
// (10^5 levels crashed the readers by recursion) is refused while it is parsed, before it is built.
inline constexpr int kMaxJsonDepth = 64;

// The parser callback (nlohmann::json::parse(input, callback)) that calls `refuse(message)` (which
// throws the parser's own error naming the document) on the first object or array past
// kMaxJsonDepth, and on a key given twice in one object (JSON leaves its meaning open; nlohmann
// would keep the last silently).
template <typename Refuse> auto jsonDocumentLimits(Refuse refuse) {
  auto keys = std::make_shared<std::vector<std::set<std::string>>>(); // per open object
  return [refuse, keys](int depth, nlohmann::json::parse_event_t event, nlohmann::json &parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (depth >= kMaxJsonDepth && (event == Event::object_start || event == Event::array_start))
      refuse(fmt::format("nested deeper than {} levels", kMaxJsonDepth));
    if (event == Event::object_start) {
      keys->emplace_back();
    } else if (event == Event::object_end) {
      keys->pop_back();
    } else if (event == Event::key && !keys->empty()) {
      const std::string &key = parsed.get_ref<const std::string &>();
      if (!keys->back().insert(key).second)
        refuse(fmt::format("key \"{}\" appears twice in one object",
                           key.size() > 60 ? key.substr(0, 57) + "..." : key));
    }
    return true;
  };
}

// A nlohmann exception's message without its "[json.exception.kind.N] " prefix.
inline std::string jsonErrorDetail(const nlohmann::json::exception &error) {
  std::string detail = error.what();
  if (auto bracket = detail.find("] "); detail.starts_with("[json.exception.") && bracket != std::string::npos)
    detail = detail.substr(bracket + 2);
  return detail;
}

} // namespace sparsekgen
