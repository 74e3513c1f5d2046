#include "sparsekgen/TrainingParameters.h"

#include <cmath>
#include <random>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sparsekgen/Errors.h"

namespace sparsekgen {

int64_t ParameterShape::elements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::vector<ParameterShape> trainingParameterShapes(const Network &network) {
  std::vector<ParameterShape> shapes;
  for (const auto &node : network.nodes) {
    const int64_t channels = network.tensors.at(node.name).channels;
    if (node.op == "conv" || node.op == "rgcn") {
      const int64_t inChannels = network.tensors.at(node.inputs[0]).channels;
      const int64_t volume = node.op == "conv" ? network.findMap(node.map).geometry.volume() : network.rgcnVolume(node);
      shapes.push_back({node.name + ".weight", {volume, inChannels, channels}});
      if (node.bias)
        shapes.push_back({node.name + ".bias", {channels}});
    } else if (node.op == "batch_norm") {
      shapes.push_back({node.name + ".weight", {channels}});
      shapes.push_back({node.name + ".bias", {channels}});
      shapes.push_back({node.name + ".running_mean", {channels}, false});
      shapes.push_back({node.name + ".running_var", {channels}, false});
    }
  }
  return shapes;
}

NetworkParameters initialTrainingParameters(const Network &network, uint32_t seed) {
  std::mt19937 random(seed);
  NetworkParameters parameters;
  for (const auto &node : network.nodes) {
    const int channels = network.tensors.at(node.name).channels;
    if (node.op == "conv" || node.op == "rgcn") {
      // An rgcn layer's offsets are its relations (and W_self): the same bound over them.
      const bool transposed = node.op == "conv" && network.findMap(node.map).transposed();
      const int volume = node.op == "conv" ? network.findMap(node.map).geometry.volume() : network.rgcnVolume(node);
      const int fanIn = transposed ? channels : network.tensors.at(node.inputs[0]).channels;
      const float bound = 1.0f / std::sqrt(static_cast<float>(fanIn) * volume);
      std::uniform_real_distribution<float> uniform(-bound, bound);
      auto &weight = parameters[node.name + ".weight"];
      weight.resize(static_cast<size_t>(volume) * network.tensors.at(node.inputs[0]).channels * channels);
      for (auto &w : weight)
        w = uniform(random);
      if (node.bias) {
        auto &bias = parameters[node.name + ".bias"];
        for (int c = 0; c < channels; ++c)
          bias.push_back(uniform(random));
      }
    } else if (node.op == "batch_norm") {
      parameters[node.name + ".weight"].assign(channels, 1.0f);
      parameters[node.name + ".bias"].assign(channels, 0.0f);
      parameters[node.name + ".running_mean"].assign(channels, 0.0f);
      parameters[node.name + ".running_var"].assign(channels, 1.0f);
    }
  }
  return parameters;
}

void checkTrainingParameters(const Network &network, const NetworkParameters &parameters) {
  std::set<std::string> expected;
  for (const auto &shape : trainingParameterShapes(network)) {
    expected.insert(shape.name);
    auto it = parameters.find(shape.name);
    if (it == parameters.end())
      throw RuntimeError(fmt::format("network {}: training parameter '{}' is missing", network.name, shape.name));
    if (static_cast<int64_t>(it->second.size()) != shape.elements())
      throw RuntimeError(fmt::format("network {}: training parameter '{}' holds {} values, expected {} ({})",
                                     network.name, shape.name, it->second.size(), shape.elements(),
                                     fmt::join(shape.shape, " x ")));
  }
  for (const auto &[name, values] : parameters)
    if (!expected.count(name))
      throw RuntimeError(
          fmt::format("network {}: '{}' is not a training parameter of the network", network.name, name));
}

NetworkParameters foldBatchNorm(const Network &network, const NetworkParameters &training, double eps) {
  checkTrainingParameters(network, training);
  NetworkParameters folded;
  for (const auto &node : network.nodes) {
    if (node.op == "conv" || node.op == "rgcn") {
      folded[node.name + ".weight"] = training.at(node.name + ".weight");
      if (node.bias)
        folded[node.name + ".bias"] = training.at(node.name + ".bias");
    } else if (node.op == "batch_norm") {
      const auto &gamma = training.at(node.name + ".weight"), &beta = training.at(node.name + ".bias");
      const auto &mean = training.at(node.name + ".running_mean"), &var = training.at(node.name + ".running_var");
      auto &scale = folded[node.name + ".scale"];
      auto &shift = folded[node.name + ".shift"];
      for (size_t c = 0; c < gamma.size(); ++c) {
        double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
        scale.push_back(static_cast<float>(s));
        shift.push_back(static_cast<float>(beta[c] - mean[c] * s));
      }
    }
  }
  return folded;
}

} // namespace sparsekgen
