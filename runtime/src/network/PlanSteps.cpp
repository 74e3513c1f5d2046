#include "network/PlanSteps.h"

#include <set>

#include <fmt/format.h>

#include "network/NetworkOps.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

void uploadStepVectors(const PlanStep &step, const NetworkParameters &parameters, const Network &network,
                       std::map<std::string, DeviceBuffer> &onDevice) {
  auto upload = [&](const std::string &name) {
    onDevice[name] = DeviceBuffer::from(
        encodeElements(requireParameter(parameters, name, step.outChannels, network), SKG_F32));
  };
  if (!step.biasOf.empty())
    upload(step.biasOf + ".bias");
  if (!step.scaleShiftOf.empty()) {
    upload(step.scaleShiftOf + ".scale");
    upload(step.scaleShiftOf + ".shift");
  }
}

std::vector<std::vector<std::string>> tensorsFreedAfter(const Network &network, const std::vector<PlanStep> &plan) {
  std::map<std::string, size_t> lastReader;
  for (size_t i = 0; i < plan.size(); ++i) {
    for (const auto &name : plan[i].inputs)
      lastReader[name] = i;
    if (!plan[i].residual.empty())
      lastReader[plan[i].residual] = i;
  }
  const std::set<std::string> outputs(network.outputs.begin(), network.outputs.end());
  std::vector<std::vector<std::string>> freed(plan.size());
  for (const auto &[name, last] : lastReader)
    if (!outputs.count(name) && name != Network::kInput)
      freed[last].push_back(name);
  return freed;
}

void launchElementwiseOps(const PlanStep &step, const std::vector<uint32_t> &ops,
                          const std::map<std::string, DeviceBuffer> &parameters,
                          const std::map<std::string, DeviceTensor> &tensors, CUdeviceptr from,
                          const DeviceTensor &out, uint32_t dtype) {
  auto parameter = [&](const std::string &owner, const char *what) -> CUdeviceptr {
    return owner.empty() ? 0 : parameters.at(owner + what).get();
  };
  ElementwiseArguments args;
  args.x = from;
  args.out = out.data;
  args.rows = out.rows;
  args.channels = out.channels;
  args.dtype = dtype;
  args.ops = ops;
  args.bias = parameter(step.biasOf, ".bias");
  args.scale = parameter(step.scaleShiftOf, ".scale");
  args.shift = parameter(step.scaleShiftOf, ".shift");
  args.residual = step.residual.empty() ? 0 : tensors.at(step.residual).data;
  elementwiseForward(args, nullptr);
}

void launchConcat(const PlanStep &step, const std::map<std::string, DeviceTensor> &tensors, const DeviceTensor &out,
                  uint32_t dtype) {
  std::vector<CUdeviceptr> inputs;
  std::vector<int> widths;
  for (const auto &name : step.inputs) {
    inputs.push_back(tensors.at(name).data);
    widths.push_back(tensors.at(name).channels);
  }
  concatChannels(inputs, widths, out.data, out.rows, dtype, nullptr);
}

} // namespace sparsekgen
