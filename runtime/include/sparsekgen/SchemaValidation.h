// The runtime's documents checked against the JSON Schemas sparsekgen ships (schemas/), with
// valijson. The readers' own checks run first and say most things best (exact types and ranges,
// names that must exist); the schema then refuses what they would pass over: unknown (misspelled)
// fields, values outside a schema's enum or bounds. The schemas are compiled into the library, so
// a document is judged by the schema of the version that reads it.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace sparsekgen {

// Throws RuntimeError "<document>: <JSON pointer>: <what>" for the most specific violation of
// `schemaFile` (e.g. "network.schema.json"), e.g.
//   network net.json: /nodes/3: unknown field 'kernal_size'
void validateAgainstSchema(const nlohmann::json &value, const std::string &schemaFile, const std::string &document);

} // namespace sparsekgen
