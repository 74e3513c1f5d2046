#include "sparsekgen/NetworkTrainer.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "network/EventTimeline.h"
#include "network/NetworkMaps.h"
#include "network/NetworkOps.h"
#include "sparsekgen/Conv.h"
#include "sparsekgen/ConvDispatch.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/Reference.h"
#include "sparsekgen/TrainingOps.h"
#include "sparsekgen/TrainingParameters.h"

namespace sparsekgen {

namespace {

// Parameters live in flat f32 arenas (master values, gradients, optimizer moments), so the overflow
// check and the update are one launch each over all convolution weights and one over the rest; the
// convolution weights come first, with their operand copy in the network's type beside them.
constexpr int64_t kSlotAlignment = 64; // elements: every slot 256-byte aligned in f32

struct Slot {
  int64_t offset = 0, count = 0;
};

struct Tensor {
  DeviceBuffer storage;
  int rows = 0, channels = 0;
  CUdeviceptr data() const { return storage.get(); }
};

Tensor newTensor(int rows, int channels, uint32_t dtype) {
  Tensor t;
  t.rows = rows;
  t.channels = channels;
  t.storage = DeviceBuffer(std::max<size_t>(1, static_cast<size_t>(rows) * channels * elementBytes(dtype)));
  return t;
}

// A tensor's values as floats (its storage may be padded past rows x channels).
std::vector<float> decodeTensor(const Tensor &t, uint32_t dtype) {
  auto bytes = t.storage.download<uint8_t>();
  bytes.resize(static_cast<size_t>(t.rows) * t.channels * elementBytes(dtype));
  return decodeElements(bytes, dtype);
}

// The stage an interval of a profiled step adds to: a member of TrainingStageTimes.
using StageField = double TrainingStageTimes::*;
namespace Stage {
constexpr StageField Maps = &TrainingStageTimes::maps, MapExtras = &TrainingStageTimes::mapExtras,
                     Forward = &TrainingStageTimes::forward, InputGrad = &TrainingStageTimes::inputGrad,
                     WeightGrad = &TrainingStageTimes::weightGrad, Elementwise = &TrainingStageTimes::elementwise,
                     Optimizer = &TrainingStageTimes::optimizer;
} // namespace Stage

// One convolution's kernels for this step.
struct ConvKernels {
  const skg_kernel_record *forward = nullptr, *inputGrad = nullptr, *weightGrad = nullptr;
  int forwardSplits = 1, inputGradSplits = 1, weightGradSplits = 0;
  int forwardDispatch = -1, inputGradDispatch = -1, weightGradDispatch = -1; // indices into dispatches()
  bool biasUnfused = false; // no forward kernel fuses the bias: it is added element-wise after the convolution
};

} // namespace

struct NetworkTrainer::State {
  uint32_t dtype = SKG_F16;
  std::string output; // the logits tensor
  int classes = 0;
  std::vector<KernelDescription> descriptions;

  std::map<std::string, Slot> learned, statistics; // by parameter name
  int64_t weightElements = 0, learnedElements = 0;
  DeviceBuffer master, operand, grads, firstMoment, secondMoment, runningStats;
  DeviceBuffer scalars; // f32 loss, then the int32 non-finite count

  // Which tensors the backward reads: inputs of convolutions and batch norms, ReLU outputs, the logits.
  std::set<std::string> savedForBackward;
  std::map<std::string, size_t> lastForwardReader;

  // This step's.
  NetworkMaps maps;
  std::map<std::string, DeviceKernelMap> transposed;
  std::map<std::tuple<std::string, bool, int, int>, DeviceKernelMapExtras> extras; // (map, transposed, splits, rows)
  std::map<std::string, ConvKernels> kernels;                                      // by conv node
  std::map<std::string, Tensor> activations;
  std::map<std::string, std::pair<DeviceBuffer, DeviceBuffer>> batchStatistics; // mean, 1 / std
  Tensor logits;
  float lastScale = 1;

  CUdeviceptr masterOf(const std::string &name) const { return master.get() + learned.at(name).offset * 4; }
  CUdeviceptr gradOf(const std::string &name) const { return grads.get() + learned.at(name).offset * 4; }
  CUdeviceptr operandOf(const std::string &name) const {
    return operand.get() + learned.at(name).offset * elementBytes(dtype);
  }
  CUdeviceptr statisticOf(const std::string &name) const { return runningStats.get() + statistics.at(name).offset * 4; }
};

NetworkTrainer::NetworkTrainer(Context &context, Network network, const NetworkParameters &parameters,
                               const ConfigTable *table, TrainerOptions options)
    : context_(context), network_(std::move(network)), table_(table), options_(options),
      lossScale_(options.initialLossScale, options.lossScaleGrowthInterval), state_(std::make_unique<State>()) {
  State &s = *state_;
  s.dtype = dtypeFromName(network_.dtype);
  if (network_.isGraph())
    throw RuntimeError(fmt::format("network {} is a graph network: its layers train through the Python module "
                                   "(sparsekgen.nn.RGCNConv) or rgcnBackward",
                                   network_.name));
  if (s.dtype != SKG_F16)
    lossScale_ = DynamicLossScale(1.0f); // bf16 and f32 train unscaled: the scale is never updated
  if (network_.outputs.size() != 1)
    throw RuntimeError(fmt::format("network {}: training needs one output (the logits), not {}", network_.name,
                                   network_.outputs.size()));
  s.output = network_.outputs[0];
  s.classes = network_.tensors.at(s.output).channels;
  checkTrainingParameters(network_, parameters);
  s.descriptions = describeKernels(context_.kernels());
  checkCuda(cuCtxSetCurrent(context_.handle()), "cuCtxSetCurrent", "(network trainer)");

  // Slots: convolution weights first (they have an operand copy), then biases and batch-norm
  // parameters; running statistics in their own arena.
  auto shapes = trainingParameterShapes(network_);
  std::stable_partition(shapes.begin(), shapes.end(), [&](const ParameterShape &p) { return p.shape.size() == 3; });
  int64_t learnedEnd = 0, statisticsEnd = 0;
  auto place = [](int64_t &end, int64_t count) {
    Slot slot{end, count};
    end += (count + kSlotAlignment - 1) / kSlotAlignment * kSlotAlignment;
    return slot;
  };
  for (const auto &p : shapes) {
    if (!p.learned) {
      s.statistics[p.name] = place(statisticsEnd, p.elements());
      continue;
    }
    s.learned[p.name] = place(learnedEnd, p.elements());
    if (p.shape.size() == 3)
      s.weightElements = learnedEnd;
  }
  s.learnedElements = learnedEnd;
  std::vector<float> host(static_cast<size_t>(std::max<int64_t>(learnedEnd, 1)), 0.0f);
  for (const auto &[name, slot] : s.learned)
    std::copy(parameters.at(name).begin(), parameters.at(name).end(), host.begin() + slot.offset);
  s.master = DeviceBuffer::from(host);
  s.operand = DeviceBuffer::from(encodeElements(host, s.dtype));
  const size_t learnedBytes = host.size() * sizeof(float);
  s.grads = DeviceBuffer(learnedBytes);
  s.grads.fill(0);
  s.firstMoment = DeviceBuffer(learnedBytes);
  s.firstMoment.fill(0);
  if (options_.optimizer == TrainerOptions::Optimizer::AdamW) {
    s.secondMoment = DeviceBuffer(learnedBytes);
    s.secondMoment.fill(0);
  }
  std::vector<float> stats(static_cast<size_t>(std::max<int64_t>(statisticsEnd, 1)), 0.0f);
  for (const auto &[name, slot] : s.statistics)
    std::copy(parameters.at(name).begin(), parameters.at(name).end(), stats.begin() + slot.offset);
  s.runningStats = DeviceBuffer::from(stats);
  s.scalars = DeviceBuffer(8);

  for (size_t i = 0; i < network_.nodes.size(); ++i) {
    const NetworkNode &node = network_.nodes[i];
    for (const auto &input : node.inputs)
      s.lastForwardReader[input] = i;
    if (node.op == "conv" || node.op == "batch_norm")
      s.savedForBackward.insert(node.inputs[0]);
    if (node.op == "relu")
      s.savedForBackward.insert(node.name);
  }
  s.savedForBackward.insert(s.output);
}

NetworkTrainer::~NetworkTrainer() {
  cuCtxSetCurrent(context_.handle());
  cuCtxSynchronize();
}

TrainingStepResult NetworkTrainer::step(const TrainingBatch &batch, const TrainingStepOptions &stepOptions) {
  State &s = *state_;
  checkCuda(cuCtxSetCurrent(context_.handle()), "cuCtxSetCurrent", "(training step)");
  EventTimeline timeline(stepOptions.profile);
  std::vector<std::tuple<StageField, int, int, int>> intervals; // stage, events, dispatch index (or -1)
  auto timed = [&](StageField stage, auto &&work, int dispatch = -1) {
    const int first = timeline.mark();
    work();
    if (timeline.enabled())
      intervals.emplace_back(stage, first, timeline.mark(), dispatch);
  };
  const int start = timeline.mark();
  const uint32_t dtype = s.dtype;
  s.activations.clear();
  s.batchStatistics.clear();
  s.transposed.clear();
  s.extras.clear();
  s.kernels.clear();
  dispatches_.clear();
  tensorValues_.clear();
  tensorGradients_.clear();

  timed(Stage::Maps, [&] { s.maps = buildNetworkMaps(network_, batch.coordinates, batch.rows); });
  const int outputRows = s.maps.levels.at(network_.tensors.at(s.output).level)->size();
  if (batch.labelRows != outputRows)
    throw RuntimeError(fmt::format("network {}: {} labels for the {} rows of its output '{}'", network_.name,
                                   batch.labelRows, outputRows, s.output));

  // Dispatch every operation of every convolution, then build the map extras their kernels read.
  for (const auto &node : network_.nodes) {
    if (node.op != "conv")
      continue;
    const WorkloadMap &mapSpec = network_.findMap(node.map);
    const DeviceKernelMap &map = s.maps.maps.at(node.map);
    const int inChannels = network_.tensors.at(node.inputs[0]).channels, outChannels = node.outChannels;
    const LayerKey forwardKey = layerKey(inChannels, outChannels, map.volume, mapSpec.transposed(), network_.dtype,
                                         node.bias ? std::vector<std::string>{"bias"} : std::vector<std::string>{},
                                         map.outputCount(), s.maps.pairs.at(node.map));
    ConvKernels &k = s.kernels[node.name];
    auto choose = [&](const LayerKey &key, const skg_kernel_record *&kernel, int &splits, int &index) {
      DispatchedKernel d;
      try {
        d = dispatchConvKernel(context_, table_, s.descriptions, key, map, s.maps.pairs.at(node.map));
      } catch (const RuntimeError &error) {
        throw RuntimeError(
            fmt::format("network {}, layer {} ({}): {}", network_.name, node.name, key.operation, error.what()));
      }
      kernel = d.kernel;
      splits = d.splits;
      index = static_cast<int>(dispatches_.size());
      dispatches_.push_back({node.name, key.operation, d.dispatch.choice.kernel, d.dispatch.reason, d.dispatch.source,
                             splits});
    };
    try {
      choose(forwardKey, k.forward, k.forwardSplits, k.forwardDispatch);
    } catch (const RuntimeError &) {
      if (!node.bias)
        throw;
      // No kernel of these channels fuses a bias: convolve, then add the bias element-wise.
      LayerKey unfused = forwardKey;
      unfused.epilogue.clear();
      choose(unfused, k.forward, k.forwardSplits, k.forwardDispatch);
      k.biasUnfused = true;
    }
    if (node.inputs[0] != Network::kInput)
      choose(operationKey(forwardKey, "input_grad"), k.inputGrad, k.inputGradSplits, k.inputGradDispatch);
    choose(operationKey(forwardKey, "weight_grad"), k.weightGrad, k.weightGradSplits, k.weightGradDispatch);
  }
  auto transposedOf = [&](const std::string &mapName) -> const DeviceKernelMap & {
    const WorkloadMap &spec = network_.findMap(mapName);
    if (spec.transposed()) // the transpose of a mirror is the map it mirrors
      return s.maps.maps.at(spec.mirrors);
    auto it = s.transposed.find(mapName);
    if (it == s.transposed.end())
      it = s.transposed.emplace(mapName, transposedKernelMapGpu(s.maps.maps.at(mapName))).first;
    return it->second;
  };
  auto extrasFor = [&](const std::string &mapName, bool ofTransposed, const skg_kernel_record *kernel,
                       int splits) -> const DeviceKernelMapExtras * {
    const auto wanted = mapExtrasRequest(*kernel, splits);
    if (!wanted)
      return nullptr;
    const MapExtrasRequest &request = *wanted;
    if (request.pairs)
      ofTransposed = false; // pair-list input gradients read the forward's lists, swapped
    auto key = std::make_tuple(mapName, ofTransposed, request.splits, request.tileRows);
    auto it = s.extras.find(key);
    if (it == s.extras.end()) {
      const DeviceKernelMap &map = ofTransposed ? transposedOf(mapName) : s.maps.maps.at(mapName);
      it = s.extras.emplace(key, kernelMapExtrasGpu(map, request)).first;
    }
    return &it->second;
  };
  timed(Stage::MapExtras, [&] {
    for (const auto &node : network_.nodes) {
      if (node.op != "conv")
        continue;
      const ConvKernels &k = s.kernels.at(node.name);
      extrasFor(node.map, false, k.forward, k.forwardSplits);
      extrasFor(node.map, false, k.weightGrad, 0);
      if (k.inputGrad) {
        transposedOf(node.map);
        extrasFor(node.map, true, k.inputGrad, k.inputGradSplits);
      }
    }
  });

  // Forward with batch statistics.
  Tensor input;
  input.rows = batch.rows;
  input.channels = network_.inputChannels;
  auto tensorData = [&](const std::string &name) {
    return name == Network::kInput ? batch.features : s.activations.at(name).data();
  };
  for (size_t i = 0; i < network_.nodes.size(); ++i) {
    const NetworkNode &node = network_.nodes[i];
    const TensorShape &shape = network_.tensors.at(node.name);
    const int rows = s.maps.levels.at(shape.level)->size();
    Tensor out = newTensor(rows, shape.channels, dtype);
    const int inRows = node.inputs[0] == Network::kInput ? batch.rows : s.activations.at(node.inputs[0]).rows;
    if (node.op == "conv") {
      timed(
          Stage::Forward,
          [&] {
            const ConvKernels &k = s.kernels.at(node.name);
            const DeviceKernelMap &map = s.maps.maps.at(node.map);
            ConvForwardArguments args;
            args.input = tensorData(node.inputs[0]);
            args.weight = s.operandOf(node.name + ".weight");
            args.outInMap = map.outInMap.get();
            args.output = out.data();
            args.inputs = map.inputCount();
            args.outputs = map.outputCount();
            args.inChannels = network_.tensors.at(node.inputs[0]).channels;
            args.outChannels = node.outChannels;
            args.kernelVolume = map.volume;
            args.bias = node.bias && !k.biasUnfused ? s.masterOf(node.name + ".bias") : 0;
            args.splits = k.forwardSplits;
            if (auto *extras = extrasFor(node.map, false, k.forward, k.forwardSplits))
              bindMapExtras(args, *extras);
            convForward(context_, *k.forward, args);
            if (k.biasUnfused) {
              ElementwiseArguments bias;
              bias.x = bias.out = out.data();
              bias.rows = rows;
              bias.channels = shape.channels;
              bias.dtype = dtype;
              bias.ops = {SKG_EPILOGUE_BIAS};
              bias.bias = s.masterOf(node.name + ".bias");
              elementwiseForward(bias, nullptr);
            }
          },
          s.kernels.at(node.name).forwardDispatch);
    } else if (node.op == "batch_norm") {
      timed(Stage::Elementwise, [&] {
        auto &[mean, invStd] = s.batchStatistics[node.name];
        mean = DeviceBuffer(static_cast<size_t>(shape.channels) * 4);
        invStd = DeviceBuffer(static_cast<size_t>(shape.channels) * 4);
        BatchNormTrainingArguments args;
        args.x = tensorData(node.inputs[0]);
        args.y = out.data();
        args.gamma = s.masterOf(node.name + ".weight");
        args.beta = s.masterOf(node.name + ".bias");
        args.savedMean = mean.get();
        args.savedInvStd = invStd.get();
        if (stepOptions.update) {
          args.runningMean = s.statisticOf(node.name + ".running_mean");
          args.runningVar = s.statisticOf(node.name + ".running_var");
        }
        args.rows = rows;
        args.channels = shape.channels;
        args.dtype = dtype;
        args.eps = options_.batchNormEps;
        args.momentum = options_.batchNormMomentum;
        batchNormTrainingForward(args, nullptr);
      });
    } else if (node.op == "relu" || node.op == "add") {
      timed(Stage::Elementwise, [&] {
        ElementwiseArguments args;
        args.x = tensorData(node.inputs[0]);
        args.out = out.data();
        args.rows = inRows;
        args.channels = shape.channels;
        args.dtype = dtype;
        if (node.op == "relu") {
          args.ops = {SKG_EPILOGUE_RELU};
        } else {
          args.ops = {SKG_EPILOGUE_RESIDUAL_ADD};
          args.residual = tensorData(node.inputs[1]);
        }
        elementwiseForward(args, nullptr);
      });
    } else { // concat
      timed(Stage::Elementwise, [&] {
        std::vector<CUdeviceptr> inputs;
        std::vector<int> widths;
        for (const auto &name : node.inputs) {
          inputs.push_back(tensorData(name));
          widths.push_back(network_.tensors.at(name).channels);
        }
        concatChannels(inputs, widths, out.data(), rows, dtype, nullptr);
      });
    }
    if (stepOptions.keepTensors)
      tensorValues_[node.name] = decodeTensor(out, dtype);
    s.activations[node.name] = std::move(out);
    // Tensors the backward does not read go once their last reader has run.
    for (const auto &name : node.inputs)
      if (name != Network::kInput && s.lastForwardReader.at(name) == i && !s.savedForBackward.count(name))
        s.activations.erase(name);
  }

  // Loss and backward. Gradients by tensor, summed over the tensor's readers in a fixed order.
  std::map<std::string, Tensor> grads;
  auto deliver = [&](const std::string &tensor, Tensor &&grad) {
    if (tensor == Network::kInput)
      return;
    auto it = grads.find(tensor);
    if (it == grads.end())
      grads.emplace(tensor, std::move(grad));
    else
      accumulateGradient(it->second.data(), grad.data(), static_cast<long long>(grad.rows) * grad.channels, dtype,
                         nullptr);
  };
  const float scale = lossScale_.scale();
  timed(Stage::Elementwise, [&] {
    checkCuda(cuMemsetD8Async(s.scalars.get(), 0, 8, nullptr), "cuMemsetD8Async", "(training step scalars)");
    checkCuda(cuMemsetD8Async(s.grads.get(), 0, s.grads.bytes(), nullptr), "cuMemsetD8Async",
              "(training step gradients)");
    Tensor logitsGrad = newTensor(outputRows, s.classes, dtype);
    CrossEntropyArguments args;
    args.logits = s.activations.at(s.output).data();
    args.labels = batch.labels;
    args.loss = s.scalars.get();
    args.logitsGrad = logitsGrad.data();
    args.rows = outputRows;
    args.classes = s.classes;
    args.dtype = dtype;
    args.lossScale = scale;
    crossEntropyLoss(args, nullptr);
    deliver(s.output, std::move(logitsGrad));
  });
  for (auto node = network_.nodes.rbegin(); node != network_.nodes.rend(); ++node) {
    auto found = grads.find(node->name);
    if (found == grads.end())
      continue; // nothing reads this node's output
    Tensor dy = std::move(found->second);
    grads.erase(found);
    if (stepOptions.keepTensors) {
      auto &kept = tensorGradients_[node->name] = decodeTensor(dy, dtype);
      for (auto &v : kept)
        v /= scale;
    }
    const std::string &in = node->inputs[0];
    const long long elements = static_cast<long long>(dy.rows) * dy.channels;
    if (node->op == "conv") {
      const ConvKernels &k = s.kernels.at(node->name);
      const DeviceKernelMap &map = s.maps.maps.at(node->map);
      ConvBackwardArguments args;
      args.input = tensorData(in);
      args.weight = s.operandOf(node->name + ".weight");
      args.outputGrad = dy.data();
      args.weightGrad = s.gradOf(node->name + ".weight");
      args.inputs = map.inputCount();
      args.outputs = map.outputCount();
      args.inChannels = network_.tensors.at(in).channels;
      args.outChannels = node->outChannels;
      args.kernelVolume = map.volume;
      if (const auto *pairs = extrasFor(node->map, false, k.weightGrad, 0)) {
        args.pairInputs = pairs->pairInputs.get();
        args.pairOutputs = pairs->pairOutputs.get();
        args.pairOffsets = pairs->pairOffsets;
      }
      args.weightGradSplits = k.weightGradSplits;
      timed(
          Stage::WeightGrad,
          [&] {
            convBackward(context_, nullptr, k.weightGrad, args);
            if (node->bias)
              biasGradient(dy.data(), dy.rows, dy.channels, dtype, s.gradOf(node->name + ".bias"), nullptr);
          },
          k.weightGradDispatch);
      if (k.inputGrad) {
        Tensor dx = newTensor(map.inputCount(), args.inChannels, dtype);
        timed(
            Stage::InputGrad,
            [&] {
              args.inputGrad = dx.data();
              args.transposedMap = transposedOf(node->map).outInMap.get();
              args.inputGradSplits = k.inputGradSplits;
              if (const auto *extras = extrasFor(node->map, true, k.inputGrad, k.inputGradSplits)) {
                args.transposedPermutation = extras->splitPermutations.get();
                args.transposedTileMasks = extras->tileMasks.get();
                args.transposedMaskWords = extras->groupMaskWords;
                if (!extras->pairOffsets.empty()) {
                  args.pairInputs = extras->pairInputs.get();
                  args.pairOutputs = extras->pairOutputs.get();
                  args.pairOffsets = extras->pairOffsets;
                }
              }
              convBackward(context_, k.inputGrad, nullptr, args);
            },
            k.inputGradDispatch);
        timed(Stage::Elementwise, [&] { deliver(in, std::move(dx)); });
      }
    } else if (node->op == "batch_norm") {
      timed(Stage::Elementwise, [&] {
        Tensor dx = newTensor(dy.rows, dy.channels, dtype);
        const auto &[mean, invStd] = s.batchStatistics.at(node->name);
        BatchNormBackwardArguments args;
        args.x = tensorData(in);
        args.outputGrad = dy.data();
        args.inputGrad = dx.data();
        args.gamma = s.masterOf(node->name + ".weight");
        args.savedMean = mean.get();
        args.savedInvStd = invStd.get();
        args.gammaGrad = s.gradOf(node->name + ".weight");
        args.betaGrad = s.gradOf(node->name + ".bias");
        args.rows = dy.rows;
        args.channels = dy.channels;
        args.dtype = dtype;
        batchNormBackward(args, nullptr);
        deliver(in, std::move(dx));
      });
    } else if (node->op == "relu") {
      timed(Stage::Elementwise, [&] {
        reluBackward(dy.data(), s.activations.at(node->name).data(), dy.data(), elements, dtype, nullptr);
        deliver(in, std::move(dy));
      });
    } else if (node->op == "add") {
      timed(Stage::Elementwise, [&] {
        // Both operands receive dy: the second a copy (or a sum into its gradient), the first dy itself.
        const std::string &other = node->inputs[1];
        auto it = grads.find(other);
        if (it != grads.end()) {
          accumulateGradient(it->second.data(), dy.data(), elements, dtype, nullptr);
        } else if (other != Network::kInput) {
          Tensor copy = newTensor(dy.rows, dy.channels, dtype);
          checkCuda(
              cuMemcpyDtoDAsync(copy.data(), dy.data(), static_cast<size_t>(elements) * elementBytes(dtype), nullptr),
              "cuMemcpyDtoDAsync", "(gradient of " + node->name + ")");
          grads.emplace(other, std::move(copy));
        }
        deliver(in, std::move(dy));
      });
    } else { // concat
      timed(Stage::Elementwise, [&] {
        std::vector<Tensor> pieces;
        std::vector<CUdeviceptr> pointers;
        std::vector<int> widths;
        for (const auto &name : node->inputs) {
          pieces.push_back(newTensor(dy.rows, network_.tensors.at(name).channels, dtype));
          pointers.push_back(pieces.back().data());
          widths.push_back(pieces.back().channels);
        }
        splitChannels(dy.data(), widths, pointers, dy.rows, dtype, nullptr);
        for (size_t k = 0; k < pieces.size(); ++k)
          deliver(node->inputs[k], std::move(pieces[k]));
      });
    }
    // Every reader of this node's output has run its backward: the output is no longer needed.
    if (node->name != s.output)
      s.activations.erase(node->name);
  }
  s.logits = std::move(s.activations.at(s.output));
  s.activations.clear();
  s.batchStatistics.clear();

  // Overflow check, then the update unless the gradients hold a NaN or infinity.
  timed(Stage::Optimizer, [&] { countNonFinite(s.grads.get(), s.learnedElements, s.scalars.get() + 4, nullptr); });
  float loss = 0;
  int32_t nonFinite = 0;
  {
    std::vector<uint8_t> scalars = s.scalars.download<uint8_t>();
    std::memcpy(&loss, scalars.data(), 4);
    std::memcpy(&nonFinite, scalars.data() + 4, 4);
  }
  TrainingStepResult result;
  result.loss = loss;
  result.lossScale = scale;
  result.outputRows = outputRows;
  s.lastScale = scale;
  result.applied = nonFinite == 0;
  if (dtype == SKG_F16)
    lossScale_.update(!result.applied);
  if (result.applied && stepOptions.update) {
    ++stepsApplied_;
    timed(Stage::Optimizer, [&] {
      OptimizerArguments args;
      args.momentum = s.firstMoment.get();
      args.secondMoment = s.secondMoment.get();
      args.weightType = dtype;
      args.lr = options_.learningRate;
      args.lossScale = scale;
      args.weightDecay = options_.weightDecay;
      args.momentumFactor = options_.momentum;
      args.beta1 = options_.beta1;
      args.beta2 = options_.beta2;
      args.eps = options_.adamEps;
      args.step = stepsApplied_;
      // Convolution weights with their operand copy, then the f32-only parameters.
      const int64_t ranges[2][2] = {{0, s.weightElements}, {s.weightElements, s.learnedElements}};
      for (int r = 0; r < 2; ++r) {
        const int64_t first = ranges[r][0], count = ranges[r][1] - ranges[r][0];
        if (count == 0)
          continue;
        OptimizerArguments part = args;
        part.master = s.master.get() + first * 4;
        part.grad = s.grads.get() + first * 4;
        part.momentum = s.firstMoment.get() + first * 4;
        part.secondMoment = s.secondMoment.get() ? s.secondMoment.get() + first * 4 : 0;
        part.weights = r == 0 ? s.operand.get() : 0;
        part.count = count;
        if (options_.optimizer == TrainerOptions::Optimizer::AdamW)
          adamWStep(part, nullptr);
        else
          sgdMomentumStep(part, nullptr);
      }
    });
  }
  const int end = timeline.mark();
  if (stepOptions.profile) {
    context_.synchronize("the training step");
    stages_ = {};
    for (const auto &[stage, first, second, dispatch] : intervals) {
      const double ms = timeline.between(first, second);
      if (dispatch >= 0)
        dispatches_[dispatch].milliseconds = ms;
      stages_.*stage += ms;
    }
    stages_.total = timeline.between(start, end);
  }
  return result;
}

namespace {

// Slices of a downloaded arena by parameter name; `factor` multiplies every value.
NetworkParameters slices(const std::map<std::string, Slot> &slots, const std::vector<float> &arena, float factor) {
  NetworkParameters out;
  for (const auto &[name, slot] : slots) {
    auto &values = out[name];
    values.assign(arena.begin() + slot.offset, arena.begin() + slot.offset + slot.count);
    if (factor != 1.0f)
      for (auto &v : values)
        v *= factor;
  }
  return out;
}

} // namespace

NetworkParameters NetworkTrainer::parameters() const {
  const State &s = *state_;
  context_.synchronize("the training step");
  NetworkParameters out = slices(s.learned, s.master.download<float>(), 1.0f);
  out.merge(slices(s.statistics, s.runningStats.download<float>(), 1.0f));
  return out;
}

NetworkParameters NetworkTrainer::gradients() const {
  const State &s = *state_;
  context_.synchronize("the training step");
  return slices(s.learned, s.grads.download<float>(), 1.0f / s.lastScale);
}

std::vector<float> NetworkTrainer::logits() const {
  const State &s = *state_;
  context_.synchronize("the training step");
  if (!s.logits.storage.get())
    return {};
  return decodeTensor(s.logits, s.dtype);
}

} // namespace sparsekgen
