#include "sparsekgen/NetworkTrainingReference.h"

#include <fmt/format.h>

#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/Reference.h"
#include "sparsekgen/TrainingParameters.h"
#include "sparsekgen/TrainingReference.h"
#include "sparsekgen/Workload.h"

namespace sparsekgen {

NetworkTrainingReference referenceNetworkTrainingStep(const Network &network, const NetworkParameters &training,
                                                      const std::vector<Coordinate> &coordinates,
                                                      const std::vector<float> &features,
                                                      const std::vector<int32_t> &labels,
                                                      const NetworkTrainingReferenceOptions &options) {
  const double eps = options.eps;
  checkTrainingParameters(network, training);
  if (network.outputs.size() != 1)
    throw RuntimeError(fmt::format("network {}: training needs one output (the logits), not {}", network.name,
                                   network.outputs.size()));
  if (features.size() != coordinates.size() * static_cast<size_t>(network.inputChannels))
    throw RuntimeError(fmt::format("network {}: {} feature values for {} rows of {} channels", network.name,
                                   features.size(), coordinates.size(), network.inputChannels));
  const auto maps = buildMapsCpu(network.maps, coordinates);
  auto channelsOf = [&](const std::string &tensor) { return network.tensors.at(tensor).channels; };
  auto parameter = [&](const std::string &name) -> const std::vector<float> & { return training.at(name); };
  // Stored tensors rounded as the GPU trainer stores them; gradients in their scaled range.
  auto stored = [&](std::vector<double> &values, double scale) {
    if (options.storage)
      for (auto &v : values)
        v = roundToElement(static_cast<float>(v * scale), *options.storage) / scale;
  };
  std::map<std::string, std::vector<float>> operandWeights; // convolution weights as the kernels read them
  for (const auto &node : network.nodes)
    if (node.op == "conv") {
      auto &w = operandWeights[node.name] = parameter(node.name + ".weight");
      if (options.storage)
        for (auto &v : w)
          v = roundToElement(v, *options.storage);
    }

  std::map<std::string, std::vector<double>> tensors;
  tensors[Network::kInput].assign(features.begin(), features.end());
  for (const auto &node : network.nodes) {
    const int channels = channelsOf(node.name);
    const auto &x = tensors.at(node.inputs[0]);
    std::vector<double> y;
    if (node.op == "conv") {
      y = referenceConvForward(x, operandWeights.at(node.name), maps.at(node.map), channelsOf(node.inputs[0]),
                               channels);
      if (node.bias)
        for (size_t i = 0; i < y.size(); ++i)
          y[i] += parameter(node.name + ".bias")[i % channels];
    } else if (node.op == "batch_norm") {
      y = referenceBatchNormTraining(x, static_cast<long long>(x.size() / channels), channels,
                                     parameter(node.name + ".weight"), parameter(node.name + ".bias"), eps)
              .y;
    } else if (node.op == "relu") {
      y = x;
      for (auto &v : y)
        v = std::max(v, 0.0);
    } else if (node.op == "add") {
      y = x;
      const auto &b = tensors.at(node.inputs[1]);
      for (size_t i = 0; i < y.size(); ++i)
        y[i] += b[i];
    } else { // concat
      const size_t rows = x.size() / channelsOf(node.inputs[0]);
      y.resize(rows * channels);
      int offset = 0;
      for (const auto &input : node.inputs) {
        const int width = channelsOf(input);
        const auto &t = tensors.at(input);
        for (size_t row = 0; row < rows; ++row)
          std::copy_n(t.begin() + row * width, width, y.begin() + row * channels + offset);
        offset += width;
      }
    }
    stored(y, 1.0);
    tensors[node.name] = std::move(y);
  }

  NetworkTrainingReference result;
  const std::string &output = network.outputs[0];
  const int classes = channelsOf(output);
  result.logits = tensors.at(output);
  if (labels.size() * classes != result.logits.size())
    throw RuntimeError(fmt::format("network {}: {} labels for {} output rows", network.name, labels.size(),
                                   result.logits.size() / classes));
  auto loss = referenceCrossEntropy(result.logits, labels, classes);
  result.loss = loss.loss;
  if (!options.withGradients)
    return result;

  // Gradients by tensor, summed over the tensor's readers.
  std::map<std::string, std::vector<double>> grads;
  const double scale = options.lossScale;
  auto deliver = [&](const std::string &tensor, std::vector<double> grad) {
    auto [it, inserted] = grads.try_emplace(tensor, std::move(grad));
    if (!inserted) {
      for (size_t i = 0; i < grad.size(); ++i)
        it->second[i] += grad[i];
      stored(it->second, scale);
    }
  };
  // A gradient the trainer computes into a new tensor (loss, input gradients, batch norm).
  auto deliverComputed = [&](const std::string &tensor, std::vector<double> grad) {
    stored(grad, scale);
    deliver(tensor, std::move(grad));
  };
  deliverComputed(output, std::move(loss.logitsGrad));
  for (auto node = network.nodes.rbegin(); node != network.nodes.rend(); ++node) {
    auto found = grads.find(node->name);
    if (found == grads.end())
      continue; // nothing reads this node's output
    std::vector<double> dy = std::move(found->second);
    grads.erase(found);
    if (options.keepTensorGradients)
      result.tensorGradients[node->name] = dy;
    const int channels = channelsOf(node->name);
    const std::string &in = node->inputs[0];
    if (node->op == "conv") {
      const KernelMap &map = maps.at(node->map);
      const int inChannels = channelsOf(in);
      const auto &weight = operandWeights.at(node->name);
      result.gradients[node->name + ".weight"] = referenceConvWeightGrad(tensors.at(in), dy, map, inChannels, channels);
      if (node->bias) {
        std::vector<double> bias(channels, 0.0);
        for (size_t i = 0; i < dy.size(); ++i)
          bias[i % channels] += dy[i];
        result.gradients[node->name + ".bias"] = std::move(bias);
      }
      if (in != Network::kInput)
        deliverComputed(in, referenceConvInputGrad(dy, weight, map, inChannels, channels));
    } else if (node->op == "batch_norm") {
      const auto &x = tensors.at(in);
      auto bn = referenceBatchNormBackward(x, dy, static_cast<long long>(x.size() / channels), channels,
                                           parameter(node->name + ".weight"), eps);
      result.gradients[node->name + ".weight"] = std::move(bn.gammaGrad);
      result.gradients[node->name + ".bias"] = std::move(bn.betaGrad);
      deliverComputed(in, std::move(bn.inputGrad));
    } else if (node->op == "relu") {
      const std::vector<float> *decided = nullptr;
      if (options.reluOutputs)
        if (auto it = options.reluOutputs->find(node->name); it != options.reluOutputs->end())
          decided = &it->second;
      if (decided && decided->size() != dy.size())
        throw RuntimeError(fmt::format("network {}: ReLU outputs of {} hold {} values, not {}", network.name,
                                       node->name, decided->size(), dy.size()));
      const auto &y = tensors.at(node->name);
      for (size_t i = 0; i < dy.size(); ++i)
        if ((decided ? (*decided)[i] : y[i]) <= 0)
          dy[i] = 0;
      deliver(in, std::move(dy));
    } else if (node->op == "add") {
      deliver(node->inputs[1], dy);
      deliver(in, std::move(dy));
    } else { // concat
      const size_t rows = dy.size() / channels;
      int offset = 0;
      for (const auto &input : node->inputs) {
        const int width = channelsOf(input);
        std::vector<double> part(rows * width);
        for (size_t row = 0; row < rows; ++row)
          std::copy_n(dy.begin() + row * channels + offset, width, part.begin() + row * width);
        offset += width;
        deliver(input, std::move(part));
      }
    }
  }
  // Parameters no gradient reached (a branch that does not lead to the output) get zeros.
  for (const auto &shape : trainingParameterShapes(network))
    if (shape.learned && !result.gradients.count(shape.name))
      result.gradients[shape.name].assign(shape.elements(), 0.0);
  return result;
}

} // namespace sparsekgen
