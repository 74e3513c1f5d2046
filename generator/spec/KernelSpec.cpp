#include "sparsekgen/generator/KernelSpec.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/BundleAbi.h"
#include "sparsekgen/EnumNames.h"

namespace sparsekgen {

namespace {
template <typename Enum>
std::string_view nameOf(const std::vector<std::string_view> &names, Enum value) {
  return names.at(static_cast<size_t>(value));
}
} // namespace

const std::vector<std::string_view> &dataflowNames() { return dataflowSpellings(); }
const std::vector<std::string_view> &operationNames() { return operationSpellings(); }
const std::vector<std::string_view> &dataTypeNames() { return dtypeSpellings(); }
const std::vector<std::string_view> &epilogueOpNames() { return epilogueOpSpellings(); }
const std::vector<std::string_view> &mathModeNames() { return mathSpellings(); }

int elementBytes(DataType type) { return elementBytes(static_cast<uint32_t>(type)); }

std::string_view toString(Dataflow v) { return nameOf(dataflowNames(), v); }
std::string_view toString(ConvOperation v) { return nameOf(operationNames(), v); }
std::string_view toString(DataType v) { return nameOf(dataTypeNames(), v); }
std::string_view toString(EpilogueOp v) { return nameOf(epilogueOpNames(), v); }
std::string_view toString(MathMode v) { return nameOf(mathModeNames(), v); }
std::string smName(int sm) { return fmt::format("sm_{}", sm); }

std::string kernelName(const KernelSpec &spec) {
  std::string name = fmt::format("skg_{}_{}_{}{}{}{}{}", nameOf(dataflowCodes(), spec.dataflow),
                                 nameOf(operationCodes(), spec.operation), toString(spec.dtypes.input),
                                 toString(spec.dtypes.weight), toString(spec.dtypes.output),
                                 toString(spec.dtypes.accumulator), nameOf(mathCodes(), spec.math));
  name += fmt::format("_t{}x{}x{}_w{}x{}x{}_s{}_a{}", spec.cta.m, spec.cta.n, spec.cta.k, spec.warp.m, spec.warp.n,
                      spec.warp.k, spec.stages, spec.channelAlignment);
  for (int sm : spec.targetSms)
    name += fmt::format("_sm{}", sm);
  if (!spec.epilogue.empty()) {
    name += "_ep";
    for (EpilogueOp op : spec.epilogue)
      name += fmt::format("_{}", nameOf(epilogueOpCodes(), op));
  }
  if (spec.pairWeights)
    name += "_pw";
  // Last, so a 64-bit kernel's name is its 32-bit twin's plus the suffix (the runtime's dispatch
  // finds the twin of a tuned choice this way: BundleAbi.h).
  if (spec.indexBits == 64)
    name += SKG_WIDE_INDEX_SUFFIX;
  return name;
}

nlohmann::json toJson(const KernelSpec &spec) {
  nlohmann::json targets = nlohmann::json::array();
  for (int sm : spec.targetSms)
    targets.push_back(smName(sm));
  nlohmann::json epilogueOps = nlohmann::json::array();
  for (EpilogueOp op : spec.epilogue)
    epilogueOps.push_back(toString(op));
  nlohmann::json json = {
      {"dataflow", toString(spec.dataflow)},
      {"operation", toString(spec.operation)},
      {"dtypes",
       {{"input", toString(spec.dtypes.input)},
        {"weight", toString(spec.dtypes.weight)},
        {"output", toString(spec.dtypes.output)},
        {"accumulator", toString(spec.dtypes.accumulator)}}},
      {"tile", {{"cta", {spec.cta.m, spec.cta.n, spec.cta.k}}, {"warp", {spec.warp.m, spec.warp.n, spec.warp.k}}}},
      {"stages", spec.stages},
      {"channel_alignment", spec.channelAlignment},
      {"math", toString(spec.math)},
      {"targets", targets},
      {"epilogue", {{"ops", epilogueOps}}},
      {"index_bits", spec.indexBits},
  };
  // Only where set: the records of kernels without pair weights read as they did before the field.
  if (spec.pairWeights)
    json["pair_weights"] = true;
  return json;
}

} // namespace sparsekgen
