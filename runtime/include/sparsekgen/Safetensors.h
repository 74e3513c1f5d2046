// Named float32 tensors in the safetensors format (an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}}, then the data): how parameters travel between
// sparsekgen's tools and PyTorch (the safetensors package, or a few lines of numpy).
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/Network.h"
#include "sparsekgen/TrainingParameters.h"

namespace sparsekgen {

// Writes `values` with the shapes of `shapes` (every name of `values` must have one whose element
// count matches). The file appears whole or not at all: written beside the target, then renamed.
void saveSafetensors(const std::string &path, const NetworkParameters &values,
                     const std::vector<ParameterShape> &shapes);

// Reads every tensor of a safetensors file (F32, F16 or BF16 data, returned as float). Throws
// RuntimeError naming the file and the tensor for a malformed header, an unsupported dtype, or
// offsets outside the data.
NetworkParameters loadSafetensors(const std::string &path);

} // namespace sparsekgen
