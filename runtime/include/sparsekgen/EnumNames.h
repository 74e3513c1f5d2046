// Spellings of the kernel enumerations (KernelEnums.h) for C++: JSON and messages, kernel-name
// codes, and the reverse look-ups. The one name<->value mapping of the generator and the runtime.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "sparsekgen/BundleAbi.h"
#include "sparsekgen/KernelEnums.h"

namespace sparsekgen {

// The spellings of each enumeration, in enumeration order.
const std::vector<std::string_view> &dataflowSpellings();
const std::vector<std::string_view> &operationSpellings();
const std::vector<std::string_view> &dtypeSpellings();
const std::vector<std::string_view> &epilogueOpSpellings();
const std::vector<std::string_view> &mathSpellings();

// Codes in kernel names (KernelSpec.h kernelName), in enumeration order.
const std::vector<std::string_view> &dataflowCodes();
const std::vector<std::string_view> &operationCodes();
const std::vector<std::string_view> &epilogueOpCodes();
const std::vector<std::string_view> &mathCodes();

// The value spelled `name` in `spellings`, or nothing.
std::optional<uint32_t> findSpelling(const std::vector<std::string_view> &spellings, std::string_view name);

// Spellings of the bundle's launch enumerations (BundleAbi.h), for manifests and messages.
const char *spellingOf(skg_parameter_type type);
const char *spellingOf(skg_parameter_role role);
const char *spellingOf(skg_function_role role);
const char *spellingOf(skg_grid_rule rule);

// Bytes of one element of a skg_dtype.
int elementBytes(uint32_t dtype);

} // namespace sparsekgen
