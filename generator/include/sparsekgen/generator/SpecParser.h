// Reading kernel specs and catalogs from JSON. Errors carry the JSON pointer of the offending value
// ("/kernels/3/tile/cta/0") or the line and column of malformed text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sparsekgen/generator/KernelSpec.h"

namespace sparsekgen {

// Parses JSON text; malformed text throws SpecError naming "<source>:<line>:<column>".
nlohmann::json parseJsonText(std::string_view text, const std::string &sourceName);

// One spec object; `pointer` is where it sits in its document (for messages).
KernelSpec parseKernelSpec(const nlohmann::json &value, const std::string &pointer);

struct DroppedKernel {
  std::string pointer; // the cross product it came from
  std::string name;
  std::string reason;  // the legality rule it broke
};

struct Catalog {
  std::vector<KernelSpec> kernels;      // expanded, legal, without duplicates, in document order
  std::vector<DroppedKernel> dropped;   // cross-product members filtered out by the legality rules
};

// The most kernels a catalog may name, counting every cross-product combination before the
// legality rules drop any (the default catalog has a few hundred; each kept one takes seconds to
// compile). A larger catalog is refused while parsing, naming the product that passes the limit.
constexpr size_t kMaxCatalogMembers = 16384;

// A catalog is a single spec, an array of specs, or an object with "kernels" (specs) and/or
// "products" (compact cross products). An explicitly listed illegal spec is an error; a cross-product member
// that breaks a legality rule is dropped and reported in Catalog::dropped.
Catalog parseCatalog(const nlohmann::json &document);

// Reads and parses a catalog file; every error message starts with the file name.
Catalog loadCatalogFile(const std::string &path);

} // namespace sparsekgen
