// What a template file defines: the functions of one kernel family (the main kernel and its
// companions), each with its ABI (parameters, grid rule, launch shape) and the builder of its body.
// The registry makes both the MLIR module and the bundle's launch record from this one list.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mlir/IR/Value.h"

#include "sparsekgen/generator/KernelBuilder.h"
#include "sparsekgen/generator/KernelSpec.h"
#include "sparsekgen/generator/LaunchAbi.h"

namespace sparsekgen {

// A function's arguments by their ABI names.
class KernelArguments {
public:
  explicit KernelArguments(std::map<std::string, mlir::Value> values) : values_(std::move(values)) {}
  // Throws GeneratorError when the function declares no such parameter (a template bug).
  mlir::Value operator[](const std::string &name) const;
  // The argument, or a null value when the function has no such parameter.
  mlir::Value optional(const std::string &name) const;

private:
  std::map<std::string, mlir::Value> values_;
};

struct FunctionTemplate {
  KernelFunctionAbi abi;
  // Emits the body (the insertion point is at the start of the function; the registry adds the return).
  std::function<void(KernelBuilder &, const KernelArguments &)> body;
};

using TemplateFunctions = std::function<std::vector<FunctionTemplate>(const KernelSpec &)>;

// Registers a template for (dataflow, operation) at static initialisation. Template files are
// linked as objects (templates/CMakeLists.txt), so each registration always runs.
struct TemplateRegistration {
  TemplateRegistration(skg_dataflow dataflow, skg_operation operation, TemplateFunctions functions);
};

// The template registered for (dataflow, operation); throws GeneratorError when there is none.
// Call it while building (not during static initialisation, whose order across files is unspecified).
const TemplateFunctions &registeredTemplate(skg_dataflow dataflow, skg_operation operation);

// Parameter helpers shared by the templates.
skg_parameter_type bufferOf(DataType type);
KernelParameter operandBuffer(const KernelSpec &spec, std::string name, skg_parameter_role role);
KernelParameter outputBuffer(const KernelSpec &spec, std::string name, skg_parameter_role role);
KernelParameter f32Buffer(std::string name, skg_parameter_role role);
KernelParameter i32Buffer(std::string name, skg_parameter_role role);
KernelParameter i32Size(std::string name);
// A CUtensorMap in device memory that the runtime encodes for the call (warpgroup_mma_tma's weight).
KernelParameter tensorMapParameter(std::string name);
// f32 [pairs]: the weight each pair's product is scaled by (specs with pair_weights).
KernelParameter pairWeightsParameter();

} // namespace sparsekgen
