// Bundle manifests as explain reads them, then dispatch over their kernels (channel alignments
// divide channel counts there).
#include "FuzzDocument.h"
#include "sparsekgen/BundleManifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return sparsekgen::fuzz::fuzzDocument(data, size, [](const std::string &text) {
    auto manifest = sparsekgen::parseBundleManifest(text, "fuzz.json");
    sparsekgen::heuristicChoice(sparsekgen::layerKey(24, 40, 27, false, "f16", {}, 80000, 400000), manifest.kernels);
  });
}
