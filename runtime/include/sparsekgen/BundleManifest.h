// A bundle's manifest.json as tools read it without linking the bundle (sparsekgen explain): the
// bundle's hash and its kernels as dispatch describes them.
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/ConfigTable.h"

namespace sparsekgen {

struct BundleManifest {
  std::string bundleHash;
  std::vector<KernelDescription> kernels;
};

// Parses the text of a manifest; `source` names it in messages. Malformed JSON, a document that is
// not a sparsekgen bundle manifest, and a missing or mistyped field throw RuntimeError naming the
// source and the JSON pointer.
BundleManifest parseBundleManifest(const std::string &text, const std::string &source);

} // namespace sparsekgen
