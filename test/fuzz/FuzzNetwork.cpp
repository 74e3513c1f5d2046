// Network descriptions: parsing, shape checks and planning (fusion of epilogues).
#include "FuzzDocument.h"
#include "sparsekgen/Network.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return sparsekgen::fuzz::fuzzDocument(data, size, [](const std::string &text) {
    sparsekgen::planNetwork(sparsekgen::parseNetwork(text, "fuzz.json"));
  });
}
