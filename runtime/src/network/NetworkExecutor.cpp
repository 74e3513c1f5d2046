#include "sparsekgen/NetworkExecutor.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "network/EventTimeline.h"
#include "network/NetworkMaps.h"
#include "network/NetworkOps.h"
#include "network/PlanSteps.h"
#include "sparsekgen/Conv.h"
#include "sparsekgen/ConvDispatch.h"
#include "sparsekgen/ConvLaunchPlan.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/Reference.h"
#include "sparsekgen/Verification.h"

namespace sparsekgen {

// What a step needs beyond its tensors: its kernel and the map extras of that kernel.
struct NetworkExecutor::StepResources {
  const skg_kernel_record *kernel = nullptr; // conv steps
  int splits = 1;
  ConvLaunchPlan launch;
  // Sort inputs or pair lists of the kernel, shared by the steps needing the same ones of one map.
  std::shared_ptr<const DeviceKernelMapExtras> extras;
  CUevent extrasReady = nullptr; // recorded on the side stream after the extras were built
  std::vector<uint32_t> ops;     // element-wise steps, and conv steps whose epilogue is unfused
};

namespace {

// [volume, in, out] weights zero-padded to [volume, launchIn, launchOut].
std::vector<float> paddedWeights(const std::vector<float> &weights, int volume, int in, int out, int launchIn,
                                 int launchOut) {
  if (in == launchIn && out == launchOut)
    return weights;
  std::vector<float> padded(static_cast<size_t>(volume) * launchIn * launchOut, 0.0f);
  for (int k = 0; k < volume; ++k)
    for (int i = 0; i < in; ++i)
      std::copy_n(weights.begin() + (static_cast<size_t>(k) * in + i) * out, out,
                  padded.begin() + (static_cast<size_t>(k) * launchIn + i) * launchOut);
  return padded;
}

// The first `channels` columns of a [rows, fromChannels] tensor into a [rows, toChannels] one, on
// the default stream.
void copyColumns(CUdeviceptr from, int fromChannels, CUdeviceptr to, int toChannels, int channels, int rows,
                 int bytesPerElement, const std::string &layer) {
  if (rows == 0)
    return;
  CUDA_MEMCPY2D copy{};
  copy.srcMemoryType = copy.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  copy.srcDevice = from;
  copy.srcPitch = static_cast<size_t>(fromChannels) * bytesPerElement;
  copy.dstDevice = to;
  copy.dstPitch = static_cast<size_t>(toChannels) * bytesPerElement;
  copy.WidthInBytes = static_cast<size_t>(channels) * bytesPerElement;
  copy.Height = rows;
  checkCuda(cuMemcpy2DAsync(&copy, nullptr), "cuMemcpy2DAsync", "(channel padding of " + layer + ")");
}

} // namespace

NetworkExecutor::NetworkExecutor(Context &context, Network network, const NetworkParameters &parameters,
                                 const ConfigTable *table)
    : context_(context), network_(std::move(network)), plan_(planNetwork(network_)), table_(table),
      dtype_(dtypeFromName(network_.dtype)) {
  if (network_.isGraph())
    throw RuntimeError(fmt::format("network {} is a graph network: GraphNetworkExecutor runs it", network_.name));
  descriptions_ = describeKernels(context_.kernels());
  checkCuda(cuCtxSetCurrent(context_.handle()), "cuCtxSetCurrent", "(network executor)");
  checkCuda(cuStreamCreate(&sideStream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate", "(network sort inputs)");
  for (const auto &step : plan_) {
    auto resources = std::make_unique<StepResources>();
    if (step.kind == PlanStep::Kind::Conv) {
      resources->launch = chooseConvLaunch(descriptions_, network_, step);
      const int volume = network_.findMap(step.map).geometry.volume();
      const std::string name = step.name + ".weight";
      const auto &weights =
          requireParameter(parameters, name, static_cast<size_t>(volume) * step.inChannels * step.outChannels, network_);
      parameters_[name] = DeviceBuffer::from(encodeElements(
          paddedWeights(weights, volume, step.inChannels, step.outChannels, resources->launch.in, resources->launch.out),
          dtype_));
    }
    uploadStepVectors(step, parameters, network_, parameters_);
    for (const auto &op : step.epilogue)
      resources->ops.push_back(epilogueOpFromName(op));
    steps_.push_back(std::move(resources));
  }
  freedAfter_ = tensorsFreedAfter(network_, plan_);
}

NetworkExecutor::~NetworkExecutor() {
  // The last run's convolutions may still read the sort inputs, which are freed on the side stream;
  // and that stream must outlive them.
  cuCtxSetCurrent(context_.handle());
  cuCtxSynchronize();
  for (auto &step : steps_)
    step->extras.reset();
  extrasBuilt_.clear();
  if (sideStream_) {
    cuStreamSynchronize(sideStream_);
    cuStreamDestroy(sideStream_);
  }
}

// Dispatches every convolution on this run's maps (host work only).
void NetworkExecutor::dispatchConvolutions() {
  dispatches_.clear();
  extrasBuilt_.clear();
  for (size_t i = 0; i < plan_.size(); ++i) {
    const PlanStep &step = plan_[i];
    if (step.kind != PlanStep::Kind::Conv)
      continue;
    const WorkloadMap &mapSpec = network_.findMap(step.map);
    const DeviceKernelMap &map = maps_.at(step.map);
    StepResources &r = *steps_[i];
    LayerKey key = layerKey(r.launch.in, r.launch.out, map.volume, mapSpec.transposed(), network_.dtype,
                            r.launch.epilogue, map.outputCount(), pairs_.at(step.map));
    const DispatchedKernel d = dispatchConvKernel(context_, table_, descriptions_, key, map, pairs_.at(step.map));
    r.kernel = d.kernel;
    r.splits = d.splits;
    r.extras = nullptr;
    r.extrasReady = nullptr;
    dispatches_.push_back({step.name, d.dispatch.choice.kernel, d.dispatch.reason, d.dispatch.source, r.splits,
                           step.inChannels, step.outChannels, map.volume, map.outputCount(), pairs_.at(step.map),
                           r.launch.in, r.launch.out, r.launch.epilogueUnfused});
  }
}

// The map extras step `i`'s kernel reads (sort inputs or pair lists), if any.
std::optional<MapExtrasRequest> NetworkExecutor::extrasRequest(size_t i) const {
  if (plan_[i].kind != PlanStep::Kind::Conv)
    return std::nullopt;
  const StepResources &r = *steps_[i];
  return mapExtrasRequest(*r.kernel, r.splits);
}

// The map extras step `i`'s kernel reads, built on first use in the run and shared by the steps
// needing the same ones. They are built on a side stream (the maps are complete: the pair counts
// were read back) while the default stream runs earlier layers; the step waits for its event.
void NetworkExecutor::prepareExtras(size_t i) {
  StepResources &r = *steps_[i];
  auto wanted = extrasRequest(i);
  if (r.extras || !wanted)
    return;
  const std::string &mapName = plan_[i].map;
  const MapExtrasRequest &request = *wanted;
  // Sort permutations do not depend on the tile height: those built for another height (earlier on
  // the same side stream) are copied instead of sorting again.
  const DeviceKernelMapExtras *sorted = nullptr;
  for (const auto &[key, other] : extrasBuilt_)
    if (request.splits > 0 && std::get<0>(key) == mapName && std::get<1>(key) == request.splits &&
        !std::get<3>(key) && other.extras)
      sorted = other.extras.get();
  auto &built = extrasBuilt_[{mapName, request.splits, request.tileRows, request.pairs}];
  if (!built.extras) {
    built.extras = std::make_shared<const DeviceKernelMapExtras>(
        kernelMapExtrasGpu(maps_.at(mapName), request, sideStream_, sorted));
    checkCuda(cuEventCreate(&built.ready, CU_EVENT_DISABLE_TIMING), "cuEventCreate", "(network sort inputs)");
    checkCuda(cuEventRecord(built.ready, sideStream_), "cuEventRecord", "(network sort inputs)");
  }
  r.extras = built.extras;
  r.extrasReady = built.ready;
}

NetworkExecutor::BuiltExtras::~BuiltExtras() {
  if (ready)
    cuEventDestroy(ready);
}

void NetworkExecutor::launchStep(size_t i) {
  const PlanStep &step = plan_[i];
  StepResources &r = *steps_[i];
  DeviceTensor &out = tensors_.at(step.output);
  const DeviceTensor &x = tensors_.at(step.inputs[0]);
  auto parameter = [&](const std::string &owner, const char *what) -> CUdeviceptr {
    return owner.empty() ? 0 : parameters_.at(owner + what).get();
  };
  CUdeviceptr residual = step.residual.empty() ? 0 : tensors_.at(step.residual).data;
  auto elementwisePass = [&](CUdeviceptr from) {
    launchElementwiseOps(step, r.ops, parameters_, tensors_, from, out, dtype_);
  };
  if (step.kind == PlanStep::Kind::Conv) {
    const DeviceKernelMap &map = maps_.at(step.map);
    const int bytes = elementBytes(dtype_);
    // Padded channels live in scratch tensors, freed (stream-ordered) after the launch.
    DeviceBuffer paddedInput, paddedOutput;
    CUdeviceptr input = x.data, output = out.data;
    if (r.launch.in != step.inChannels) {
      paddedInput = DeviceBuffer(std::max<size_t>(1, static_cast<size_t>(x.rows) * r.launch.in * bytes));
      checkCuda(cuMemsetD8Async(paddedInput.get(), 0, paddedInput.bytes(), nullptr), "cuMemsetD8Async",
                "(channel padding of " + step.name + ")");
      copyColumns(x.data, step.inChannels, paddedInput.get(), r.launch.in, step.inChannels, x.rows, bytes, step.name);
      input = paddedInput.get();
    }
    if (r.launch.out != step.outChannels) {
      paddedOutput = DeviceBuffer(std::max<size_t>(1, static_cast<size_t>(out.rows) * r.launch.out * bytes));
      output = paddedOutput.get();
    }
    const bool fused = !r.launch.epilogueUnfused;
    ConvForwardArguments args;
    args.input = input;
    args.weight = parameters_.at(step.name + ".weight").get();
    args.outInMap = map.outInMap.get();
    args.output = output;
    args.inputs = map.inputCount();
    args.outputs = map.outputCount();
    args.inChannels = r.launch.in;
    args.outChannels = r.launch.out;
    args.kernelVolume = map.volume;
    args.bias = fused ? parameter(step.biasOf, ".bias") : 0;
    args.scale = fused ? parameter(step.scaleShiftOf, ".scale") : 0;
    args.shift = fused ? parameter(step.scaleShiftOf, ".shift") : 0;
    args.residual = fused ? residual : 0;
    args.splits = r.splits;
    if (r.extras)
      bindMapExtras(args, *r.extras);
    if (r.extrasReady)
      checkCuda(cuStreamWaitEvent(nullptr, r.extrasReady, 0), "cuStreamWaitEvent", "(sort inputs of " + step.name + ")");
    convForward(context_, *r.kernel, args);
    if (output != out.data)
      copyColumns(output, r.launch.out, out.data, step.outChannels, step.outChannels, out.rows, bytes, step.name);
    if (r.launch.epilogueUnfused)
      elementwisePass(out.data);
  } else if (step.kind == PlanStep::Kind::Elementwise) {
    elementwisePass(x.data);
  } else {
    launchConcat(step, tensors_, out, dtype_);
  }
}

std::map<std::string, DeviceTensor> NetworkExecutor::run(CUdeviceptr coordinates, int rows, CUdeviceptr features,
                                                         const NetworkRunOptions &options) {
  checkCuda(cuCtxSetCurrent(context_.handle()), "cuCtxSetCurrent", "(network run)");
  EventTimeline timeline(options.profile);
  using Clock = std::chrono::steady_clock;
  const auto hostStart = Clock::now();
  double extrasHost = 0;
  const int start = timeline.mark();
  tensors_.clear();
  NetworkMaps built = buildNetworkMaps(network_, coordinates, rows);
  levels_ = std::move(built.levels);
  maps_ = std::move(built.maps);
  pairs_ = std::move(built.pairs);
  const int mapsDone = timeline.mark();
  const double mapsHost = std::chrono::duration<double, std::milli>(Clock::now() - hostStart).count();
  dispatchConvolutions();

  DeviceTensor input;
  input.data = features;
  input.rows = rows;
  input.channels = network_.inputChannels;
  input.coordinates = levels_.at("l0");
  tensors_.emplace(Network::kInput, std::move(input));
  const int elementBytesOfType = elementBytes(dtype_);
  std::vector<std::pair<int, int>> stepEvents, extrasEvents;
  for (size_t i = 0; i < plan_.size(); ++i) {
    const PlanStep &step = plan_[i];
    DeviceTensor out;
    const TensorShape &shape = network_.tensors.at(step.output);
    out.coordinates = levels_.at(shape.level);
    out.rows = out.coordinates->size();
    out.channels = shape.channels;
    out.storage = DeviceBuffer(std::max<size_t>(1, static_cast<size_t>(out.rows) * out.channels * elementBytesOfType));
    out.data = out.storage.get();
    tensors_[step.output] = std::move(out);
    // This step's extras (normally built while the previous step ran), the step, then the extras of
    // the next step that needs any, which the side stream builds while this one runs.
    auto buildExtras = [&](size_t j) {
      if (j >= plan_.size() || !extrasRequest(j) || steps_[j]->extras)
        return;
      const int extrasStart = timeline.mark(sideStream_);
      const auto extrasHostStart = Clock::now();
      prepareExtras(j);
      extrasHost += std::chrono::duration<double, std::milli>(Clock::now() - extrasHostStart).count();
      extrasEvents.emplace_back(extrasStart, timeline.mark(sideStream_));
    };
    buildExtras(i);
    const int before = timeline.mark();
    launchStep(i);
    stepEvents.emplace_back(before, timeline.mark());
    size_t next = i + 1;
    while (next < plan_.size() && !extrasRequest(next))
      ++next;
    buildExtras(next);
    if (!options.keepIntermediates)
      for (const auto &name : freedAfter_[i])
        tensors_.erase(name);
  }
  const int end = timeline.mark();
  std::map<std::string, DeviceTensor> result;
  for (const auto &name : network_.outputs) {
    if (options.keepIntermediates) {
      // The executor keeps its copy for timeStep; the caller gets a view.
      const DeviceTensor &kept = tensors_.at(name);
      result[name] = DeviceTensor{DeviceBuffer(), kept.data, kept.rows, kept.channels, kept.coordinates};
    } else {
      result[name] = std::move(tensors_.at(name));
      tensors_.erase(name);
    }
  }
  if (options.profile) {
    context_.synchronize("the network run");
    stages_ = {};
    stages_.maps = timeline.between(start, mapsDone);
    for (const auto &[first, second] : extrasEvents)
      stages_.mapExtras += timeline.between(first, second);
    stepMs_.clear();
    for (size_t i = 0; i < plan_.size(); ++i) {
      stepMs_.push_back(timeline.between(stepEvents[i].first, stepEvents[i].second));
      (plan_[i].kind == PlanStep::Kind::Conv ? stages_.convolutions : stages_.elementwise) += stepMs_.back();
    }
    stages_.total = timeline.between(start, end);
    stages_.mapsHost = mapsHost;
    stages_.mapExtrasHost = extrasHost;
  }
  return result;
}

double NetworkExecutor::timeStep(size_t step, int warmup, int iterations) {
  if (step >= plan_.size())
    throw RuntimeError(fmt::format("network {}: no plan step {}", network_.name, step));
  for (const auto &name : plan_[step].inputs)
    if (!tensors_.count(name))
      throw RuntimeError(fmt::format("network {}: step '{}' cannot be timed: tensor '{}' was not kept (run with "
                                     "keepIntermediates)",
                                     network_.name, plan_[step].name, name));
  return medianMilliseconds([&] { launchStep(step); }, warmup, iterations);
}

} // namespace sparsekgen
