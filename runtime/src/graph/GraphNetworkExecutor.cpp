#include "sparsekgen/GraphNetworkExecutor.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "network/EventTimeline.h"
#include "network/PlanSteps.h"
#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/GraphKernelChoice.h"
#include "sparsekgen/Reference.h"

namespace sparsekgen {

namespace {

// The epilogues the graph catalog's forward kernels fuse, longest first: a layer fuses the longest
// that begins its step's epilogue and runs the rest element-wise.
const std::vector<std::vector<std::string>> kFusableEpilogues = {{"bias", "relu"}, {"bias"}, {}};

} // namespace

GraphNetworkExecutor::GraphNetworkExecutor(Context &context, Network network, const NetworkParameters &parameters,
                                           GraphNetworkOptions options)
    : context_(context), network_(std::move(network)), plan_(planNetwork(network_)),
      dtype_(dtypeFromName(network_.dtype)) {
  if (!network_.isGraph())
    throw RuntimeError(fmt::format("network {} is not a graph network: NetworkExecutor runs it", network_.name));
  checkCuda(cuCtxSetCurrent(context_.handle()), "cuCtxSetCurrent", "(graph network executor)");
  const auto descriptions = describeKernels(context_.kernels());
  kernels_.assign(plan_.size(), nullptr);
  graphKeys_.resize(plan_.size());
  unfusedOps_.resize(plan_.size());
  for (size_t i = 0; i < plan_.size(); ++i) {
    const PlanStep &step = plan_[i];
    std::vector<std::string> unfused = step.epilogue;
    if (step.kind == PlanStep::Kind::Rgcn) {
      const NetworkNode &node = network_.findNode(step.name);
      graphKeys_[i] = {parseRelationNormalization(node.aggregation), node.root};
      GraphKernelRequest request;
      request.dtype = network_.dtype;
      request.inChannels = step.inChannels;
      request.outChannels = step.outChannels;
      request.preferTf32 = options.tf32;
      std::string refusal;
      for (const auto &fused : kFusableEpilogues) {
        const bool beginsEpilogue = fused.size() <= step.epilogue.size() &&
                                    std::equal(fused.begin(), fused.end(), step.epilogue.begin());
        if (!beginsEpilogue)
          continue;
        request.epilogue = fused;
        try {
          kernels_[i] = &context_.findKernel(chooseGraphKernel(descriptions, request).name);
        } catch (const RuntimeError &e) {
          refusal = e.what();
          continue;
        }
        unfused.assign(step.epilogue.begin() + fused.size(), step.epilogue.end());
        dispatches_.push_back({step.name, kernels_[i]->name, fused, unfused});
        break;
      }
      if (!kernels_[i])
        throw RuntimeError(fmt::format("network {}: layer '{}': {}", network_.name, step.name, refusal));
      const size_t volume = network_.rgcnVolume(node);
      const auto &weights = requireParameter(parameters, step.name + ".weight",
                                             volume * step.inChannels * step.outChannels, network_);
      parameters_[step.name + ".weight"] = DeviceBuffer::from(encodeElements(weights, dtype_));
    }
    uploadStepVectors(step, parameters, network_, parameters_);
    for (const auto &op : unfused)
      unfusedOps_[i].push_back(epilogueOpFromName(op));
  }
  freedAfter_ = tensorsFreedAfter(network_, plan_);
}

void GraphNetworkExecutor::setGraph(DevicePointer sources, DevicePointer targets, DevicePointer relationOfEdge,
                                    int64_t edges, int64_t nodes) {
  checkCuda(cuCtxSetCurrent(context_.handle()), "cuCtxSetCurrent", "(graph network executor)");
  graphs_.clear();
  nodes_ = -1;
  std::map<GraphKey, DeviceRelationGraph> built;
  for (size_t i = 0; i < plan_.size(); ++i)
    if (plan_[i].kind == PlanStep::Kind::Rgcn) {
      const GraphKey &key = graphKeys_[i];
      if (!built.count(key))
        built.emplace(key, relationGraphGpu(sources, targets, relationOfEdge, edges, nodes, network_.graphRelations,
                                            key.first, key.second, nullptr));
    }
  graphs_ = std::move(built);
  nodes_ = nodes;
}

void GraphNetworkExecutor::setGraph(const RelationalGraph &graph) {
  if (graph.relations != network_.graphRelations)
    throw RuntimeError(fmt::format("graph {}: {} relations, network {} takes graphs of {}", graph.source,
                                   graph.relations, network_.name, network_.graphRelations));
  const DeviceGraphEdges edges = uploadGraphEdges(graph, nullptr);
  setGraph(edges.sources.get(), edges.targets.get(), edges.relations.get(), edges.count, graph.nodes);
}

void GraphNetworkExecutor::launchStep(size_t i) {
  const PlanStep &step = plan_[i];
  const DeviceTensor &out = tensors_.at(step.output);
  const DeviceTensor &x = tensors_.at(step.inputs[0]);
  if (step.kind == PlanStep::Kind::Rgcn) {
    const skg_kernel_record &kernel = *kernels_[i];
    RgcnForwardArguments args;
    args.input = x.data;
    args.weight = parameters_.at(step.name + ".weight").get();
    args.output = out.data;
    args.inChannels = step.inChannels;
    args.outChannels = step.outChannels;
    const bool biasFused = !step.biasOf.empty() && std::find(unfusedOps_[i].begin(), unfusedOps_[i].end(),
                                                             SKG_EPILOGUE_BIAS) == unfusedOps_[i].end();
    args.bias = biasFused ? parameters_.at(step.biasOf + ".bias").get() : 0;
    rgcnForward(context_, kernel, graphs_.at(graphKeys_[i]), args, nullptr);
    if (!unfusedOps_[i].empty())
      launchElementwiseOps(step, unfusedOps_[i], parameters_, tensors_, out.data, out, dtype_);
  } else if (step.kind == PlanStep::Kind::Elementwise) {
    launchElementwiseOps(step, unfusedOps_[i], parameters_, tensors_, x.data, out, dtype_);
  } else {
    launchConcat(step, tensors_, out, dtype_);
  }
}

std::map<std::string, DeviceTensor> GraphNetworkExecutor::run(CUdeviceptr features, bool profile) {
  if (nodes_ < 0)
    throw RuntimeError(fmt::format("network {}: no graph set (setGraph) before the run", network_.name));
  checkCuda(cuCtxSetCurrent(context_.handle()), "cuCtxSetCurrent", "(graph network run)");
  EventTimeline timeline(profile);
  tensors_.clear();
  DeviceTensor input;
  input.data = features;
  input.rows = static_cast<int>(nodes_);
  input.channels = network_.inputChannels;
  tensors_.emplace(Network::kInput, std::move(input));
  std::vector<std::pair<int, int>> stepEvents;
  for (size_t i = 0; i < plan_.size(); ++i) {
    const PlanStep &step = plan_[i];
    DeviceTensor out;
    out.rows = static_cast<int>(nodes_);
    out.channels = network_.tensors.at(step.output).channels;
    out.storage = DeviceBuffer(std::max<size_t>(1, static_cast<size_t>(out.rows) * out.channels * elementBytes(dtype_)));
    out.data = out.storage.get();
    tensors_[step.output] = std::move(out);
    const int before = timeline.mark();
    launchStep(i);
    stepEvents.emplace_back(before, timeline.mark());
    for (const auto &name : freedAfter_[i])
      tensors_.erase(name);
  }
  std::map<std::string, DeviceTensor> result;
  for (const auto &name : network_.outputs) {
    result[name] = std::move(tensors_.at(name));
    tensors_.erase(name);
  }
  if (profile) {
    context_.synchronize("the graph network run");
    stepMs_.clear();
    for (const auto &[first, second] : stepEvents)
      stepMs_.push_back(timeline.between(first, second));
  }
  return result;
}

} // namespace sparsekgen
