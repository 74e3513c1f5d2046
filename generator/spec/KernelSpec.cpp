#include "sparsekgen/generator/KernelSpec.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sparsekgen {

namespace {
template <typename Enum>
std::string_view nameOf(const std::vector<std::string_view> &names, Enum value) {
  return names.at(static_cast<size_t>(value));
}
} // namespace

const std::vector<std::string_view> &dataflowNames() {
  static const std::vector<std::string_view> names = {"implicit_gemm", "implicit_gemm_sorted", "implicit_gemm_split",
                                                      "gather_gemm_scatter", "fetch_on_demand"};
  return names;
}
const std::vector<std::string_view> &operationNames() {
  static const std::vector<std::string_view> names = {"forward", "input_grad", "weight_grad"};
  return names;
}
const std::vector<std::string_view> &dataTypeNames() {
  static const std::vector<std::string_view> names = {"f16", "bf16", "f32"};
  return names;
}
const std::vector<std::string_view> &epilogueOpNames() {
  static const std::vector<std::string_view> names = {"bias", "scale_shift", "relu", "residual_add"};
  return names;
}

const std::vector<std::string_view> &mathModeNames() {
  static const std::vector<std::string_view> names = {"tensor_core", "tf32", "ffma"};
  return names;
}

int elementBytes(DataType type) { return type == DataType::F32 ? 4 : 2; }

std::string_view toString(Dataflow v) { return nameOf(dataflowNames(), v); }
std::string_view toString(ConvOperation v) { return nameOf(operationNames(), v); }
std::string_view toString(DataType v) { return nameOf(dataTypeNames(), v); }
std::string_view toString(EpilogueOp v) { return nameOf(epilogueOpNames(), v); }
std::string_view toString(MathMode v) { return nameOf(mathModeNames(), v); }
std::string smName(int sm) { return fmt::format("sm_{}", sm); }

std::string kernelName(const KernelSpec &spec) {
  static const char *dataflowCodes[] = {"igemm", "igemmsorted", "igemmsplit", "ggs", "fod"};
  static const char *operationCodes[] = {"fwd", "dgrad", "wgrad"};
  static const char *epilogueCodes[] = {"bias", "bn", "relu", "res"};
  static const char *mathCodes[] = {"", "tf32", "ffma"};
  std::string name = fmt::format("skg_{}_{}_{}{}{}{}{}", dataflowCodes[static_cast<int>(spec.dataflow)],
                                 operationCodes[static_cast<int>(spec.operation)], toString(spec.dtypes.input),
                                 toString(spec.dtypes.weight), toString(spec.dtypes.output),
                                 toString(spec.dtypes.accumulator), mathCodes[static_cast<int>(spec.math)]);
  name += fmt::format("_t{}x{}x{}_w{}x{}x{}_s{}_a{}", spec.cta.m, spec.cta.n, spec.cta.k, spec.warp.m, spec.warp.n,
                      spec.warp.k, spec.stages, spec.channelAlignment);
  for (int sm : spec.targetSms)
    name += fmt::format("_sm{}", sm);
  if (!spec.epilogue.empty()) {
    name += "_ep";
    for (EpilogueOp op : spec.epilogue)
      name += fmt::format("_{}", epilogueCodes[static_cast<int>(op)]);
  }
  return name;
}

nlohmann::json toJson(const KernelSpec &spec) {
  nlohmann::json targets = nlohmann::json::array();
  for (int sm : spec.targetSms)
    targets.push_back(smName(sm));
  nlohmann::json epilogueOps = nlohmann::json::array();
  for (EpilogueOp op : spec.epilogue)
    epilogueOps.push_back(toString(op));
  return {
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
  };
}

} // namespace sparsekgen
