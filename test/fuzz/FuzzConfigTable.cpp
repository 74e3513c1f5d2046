// Config tables: a table that parses must also parse again from what it writes.
#include "FuzzDocument.h"
#include <nlohmann/json.hpp>

#include "sparsekgen/ConfigTable.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return sparsekgen::fuzz::fuzzDocument(data, size, [](const std::string &text) {
    auto table = sparsekgen::ConfigTable::parse(text, "fuzz.json");
    sparsekgen::ConfigTable::parse(table.toJson().dump(), "fuzz.json (written back)");
  });
}
