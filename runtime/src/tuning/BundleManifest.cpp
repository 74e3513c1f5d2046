#include "sparsekgen/BundleManifest.h"

#include <fmt/format.h>

#include "tuning/JsonReader.h"

namespace sparsekgen {

BundleManifest parseBundleManifest(const std::string &text, const std::string &source) {
  const std::string document = "manifest " + source;
  const nlohmann::json manifest = parseJsonDocument(text, document);
  const JsonReader r(document);
  if (!manifest.is_object() || !manifest.contains("format") || manifest["format"] != "sparsekgen-bundle")
    r.fail("/format", "not a sparsekgen bundle manifest (no \"format\": \"sparsekgen-bundle\")");
  BundleManifest m;
  m.bundleHash = r.get<std::string>(manifest, "", "bundle_hash");
  const nlohmann::json &kernels = r.field(manifest, "", "kernels");
  if (!kernels.is_array())
    r.fail("/kernels", fmt::format("expected an array, not {}", JsonReader::brief(kernels)));
  for (size_t i = 0; i < kernels.size(); ++i) {
    const std::string pointer = fmt::format("/kernels/{}", i);
    m.kernels.push_back(describeKernel(r.get<std::string>(kernels[i], pointer, "name"),
                                       r.field(kernels[i], pointer, "spec"), document, pointer + "/spec"));
  }
  return m;
}

} // namespace sparsekgen
