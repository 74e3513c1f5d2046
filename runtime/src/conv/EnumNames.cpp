#include "sparsekgen/EnumNames.h"

#include <algorithm>

namespace sparsekgen {

#define SKG_SECOND_(enumerator, second, third) second,
#define SKG_THIRD_(enumerator, second, third) third,

const std::vector<std::string_view> &dataflowSpellings() {
  static const std::vector<std::string_view> names = {SKG_DATAFLOW_LIST(SKG_SECOND_)};
  return names;
}
const std::vector<std::string_view> &operationSpellings() {
  static const std::vector<std::string_view> names = {SKG_OPERATION_LIST(SKG_SECOND_)};
  return names;
}
const std::vector<std::string_view> &dtypeSpellings() {
  static const std::vector<std::string_view> names = {SKG_DTYPE_LIST(SKG_SECOND_)};
  return names;
}
const std::vector<std::string_view> &epilogueOpSpellings() {
  static const std::vector<std::string_view> names = {SKG_EPILOGUE_OP_LIST(SKG_SECOND_)};
  return names;
}
const std::vector<std::string_view> &mathSpellings() {
  static const std::vector<std::string_view> names = {SKG_MATH_LIST(SKG_SECOND_)};
  return names;
}

const std::vector<std::string_view> &dataflowCodes() {
  static const std::vector<std::string_view> codes = {SKG_DATAFLOW_LIST(SKG_THIRD_)};
  return codes;
}
const std::vector<std::string_view> &operationCodes() {
  static const std::vector<std::string_view> codes = {SKG_OPERATION_LIST(SKG_THIRD_)};
  return codes;
}
const std::vector<std::string_view> &epilogueOpCodes() {
  static const std::vector<std::string_view> codes = {SKG_EPILOGUE_OP_LIST(SKG_THIRD_)};
  return codes;
}
const std::vector<std::string_view> &mathCodes() {
  static const std::vector<std::string_view> codes = {SKG_MATH_LIST(SKG_THIRD_)};
  return codes;
}

int elementBytes(uint32_t dtype) {
  static const int bytes[] = {SKG_DTYPE_LIST(SKG_THIRD_)};
  return dtype < SKG_DTYPE_COUNT ? bytes[dtype] : 0;
}

namespace {
#define SKG_SPELLING_(enumerator, spelling) spelling,
template <size_t N> const char *spellingIn(const char *const (&names)[N], uint32_t value) {
  return value < N ? names[value] : "unknown";
}
} // namespace

const char *spellingOf(skg_parameter_type type) {
  static const char *const names[] = {SKG_PARAMETER_TYPE_LIST(SKG_SPELLING_)};
  return spellingIn(names, type);
}
const char *spellingOf(skg_parameter_role role) {
  static const char *const names[] = {SKG_PARAMETER_ROLE_LIST(SKG_SPELLING_)};
  return spellingIn(names, role);
}
const char *spellingOf(skg_function_role role) {
  static const char *const names[] = {SKG_FUNCTION_ROLE_LIST(SKG_SPELLING_)};
  return spellingIn(names, role);
}
const char *spellingOf(skg_grid_rule rule) {
  static const char *const names[] = {SKG_GRID_RULE_LIST(SKG_SPELLING_)};
  return spellingIn(names, rule);
}
#undef SKG_SPELLING_

#undef SKG_SECOND_
#undef SKG_THIRD_

std::optional<uint32_t> findSpelling(const std::vector<std::string_view> &spellings, std::string_view name) {
  auto it = std::find(spellings.begin(), spellings.end(), name);
  if (it == spellings.end())
    return std::nullopt;
  return static_cast<uint32_t>(it - spellings.begin());
}

} // namespace sparsekgen
