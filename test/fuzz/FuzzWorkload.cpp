// Tuning workloads: parsing and grouping of their layers.
#include "FuzzDocument.h"
#include "sparsekgen/Workload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return sparsekgen::fuzz::fuzzDocument(data, size, [](const std::string &text) {
    sparsekgen::parseWorkload(text, "fuzz.json").layerGroups();
  });
}
