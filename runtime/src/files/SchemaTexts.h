// The text of every schema in schemas/, compiled in at build time (SchemaTexts.cpp is generated
// by runtime/CpuLibrary.cmake from the files themselves, so they cannot drift apart).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sparsekgen {

// (file name, text) of each shipped schema, e.g. ("network.schema.json", "{...}").
const std::vector<std::pair<std::string, std::string>> &shippedSchemaTexts();

} // namespace sparsekgen
