#include "KernelTemplate.h"

#include <fmt/format.h>

#include "sparsekgen/generator/Errors.h"

namespace sparsekgen {

mlir::Value KernelArguments::operator[](const std::string &name) const {
  auto it = values_.find(name);
  if (it == values_.end())
    throw GeneratorError(fmt::format("template error: the kernel has no parameter '{}'", name));
  return it->second;
}

mlir::Value KernelArguments::optional(const std::string &name) const {
  auto it = values_.find(name);
  return it == values_.end() ? mlir::Value() : it->second;
}

skg_parameter_type bufferOf(DataType type) {
  switch (type) {
  case DataType::F16:
    return SKG_PARAMETER_F16_BUFFER;
  case DataType::BF16:
    return SKG_PARAMETER_BF16_BUFFER;
  case DataType::F32:
    return SKG_PARAMETER_F32_BUFFER;
  }
  return SKG_PARAMETER_F32_BUFFER;
}

KernelParameter operandBuffer(const KernelSpec &spec, std::string name, skg_parameter_role role) {
  return {std::move(name), bufferOf(spec.dtypes.input), role};
}
KernelParameter outputBuffer(const KernelSpec &spec, std::string name, skg_parameter_role role) {
  return {std::move(name), bufferOf(spec.dtypes.output), role};
}
KernelParameter f32Buffer(std::string name, skg_parameter_role role) {
  return {std::move(name), SKG_PARAMETER_F32_BUFFER, role};
}

KernelParameter pairWeightsParameter() { return f32Buffer("pair_weights", SKG_ROLE_READ); }
KernelParameter i32Buffer(std::string name, skg_parameter_role role) {
  return {std::move(name), SKG_PARAMETER_I32_BUFFER, role};
}
KernelParameter i32Size(std::string name) { return {std::move(name), SKG_PARAMETER_I32, SKG_ROLE_SIZE}; }
KernelParameter tensorMapParameter(std::string name) {
  return {std::move(name), SKG_PARAMETER_TENSOR_MAP, SKG_ROLE_READ};
}

} // namespace sparsekgen
