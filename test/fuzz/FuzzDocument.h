// The body of every fuzz target: the input as a document's text, given to `read`. The errors a
// reader is documented to throw for bad input (SpecError, RuntimeError) are the expected outcome;
// anything else escaping, a crash, a hang or a sanitizer report is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "sparsekgen/Errors.h"
#include "sparsekgen/generator/Errors.h"

namespace sparsekgen::fuzz {

template <typename Read> int fuzzDocument(const uint8_t *data, size_t size, Read read) {
  const std::string text(reinterpret_cast<const char *>(data), size);
  try {
    read(text);
  } catch (const RuntimeError &) {
  } catch (const SpecError &) {
  }
  return 0;
}

} // namespace sparsekgen::fuzz
