// Specs and catalogs: parsing, cross-product expansion and the legality rules.
#include "FuzzDocument.h"
#include <nlohmann/json.hpp>

#include "sparsekgen/generator/SpecParser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return sparsekgen::fuzz::fuzzDocument(data, size, [](const std::string &text) {
    sparsekgen::parseCatalog(sparsekgen::parseJsonText(text, "fuzz.json"));
  });
}
