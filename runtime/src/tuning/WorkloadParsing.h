// The parts workloads and networks share: their inputs and their maps (one reading, one set of
// checks, the same JSON pointers in errors).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "tuning/JsonReader.h"
#include "sparsekgen/Workload.h"

namespace sparsekgen {

std::vector<WorkloadInput> parseWorkloadInputs(const JsonReader &r, const nlohmann::json &document);

// Checks that every map reads a level an earlier map produces (l0 is the input's) and that
// transposed maps mirror an earlier strided map.
std::vector<WorkloadMap> parseWorkloadMaps(const JsonReader &r, const nlohmann::json &document);

// `dtype` is one of f16, bf16, f32.
std::string parseWorkloadDtype(const JsonReader &r, const nlohmann::json &document);

// Parses the file named `path`, naming it in the error when it cannot be opened or parsed.
nlohmann::json readJsonDocument(const std::string &path, const std::string &what);

} // namespace sparsekgen
