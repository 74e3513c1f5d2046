#include "sparsekgen/Network.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "tuning/WorkloadParsing.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/SchemaValidation.h"
#include "sparsekgen/Reference.h"

namespace sparsekgen {

using nlohmann::json;

namespace {

const std::set<std::string> kOps = {"conv", "rgcn", "batch_norm", "relu", "add", "concat"};

// The level a map's outputs follow.
std::string outputLevel(const Network &network, const WorkloadMap &map) {
  if (map.transposed())
    return network.findMap(map.mirrors).coordinates;
  return map.produces.empty() ? map.coordinates : map.produces;
}

NetworkNode parseNode(const JsonReader &r, const json &object, const std::string &p) {
  NetworkNode node;
  node.name = r.get<std::string>(object, p, "name");
  node.op = r.get<std::string>(object, p, "op");
  if (!kOps.count(node.op))
    r.fail(p + "/op", fmt::format("'{}' is not one of conv, rgcn, batch_norm, relu, add, concat", node.op));
  if (node.op == "add" || node.op == "concat") {
    node.inputs = r.get<std::vector<std::string>>(object, p, "inputs");
    if (node.inputs.size() < 2 || (node.op == "add" && node.inputs.size() != 2))
      r.fail(p + "/inputs", node.op == "add" ? "add takes exactly two tensors" : "concat takes at least two tensors");
  } else {
    node.inputs = {r.get<std::string>(object, p, "input")};
  }
  if (node.op == "conv" || node.op == "rgcn") {
    if (node.op == "conv")
      node.map = r.get<std::string>(object, p, "map");
    node.outChannels = r.get<int>(object, p, "out_channels");
    node.bias = r.get<bool>(object, p, "bias", false);
    if (node.outChannels < 1)
      r.fail(p + "/out_channels", "must be at least 1");
  }
  if (node.op == "rgcn") {
    node.aggregation = r.get<std::string>(object, p, "aggregation", "mean");
    try {
      parseRelationNormalization(node.aggregation);
    } catch (const RuntimeError &e) {
      r.fail(p + "/aggregation", e.what());
    }
    node.root = r.get<bool>(object, p, "root", true);
  }
  return node;
}

// The shape of node `index`'s output, from its inputs' shapes (checked).
TensorShape shapeOf(const JsonReader &r, const Network &network, const NetworkNode &node, int index,
                    const std::string &p) {
  std::vector<TensorShape> inputs;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    auto it = network.tensors.find(node.inputs[i]);
    if (it == network.tensors.end())
      r.fail(node.op == "add" || node.op == "concat" ? fmt::format("{}/inputs/{}", p, i) : p + "/input",
             fmt::format("tensor '{}' is not the input or an earlier node", node.inputs[i]));
    inputs.push_back(it->second);
  }
  TensorShape shape = inputs[0];
  shape.producer = index;
  if (node.op == "conv" && network.isGraph())
    r.fail(p + "/op", "a graph network's tensors are node rows: its layers are rgcn nodes, conv reads kernel maps of "
                      "coordinates");
  if (node.op == "rgcn" && !network.isGraph())
    r.fail(p + "/op", "rgcn reads a relational graph: the network needs \"graph\": {\"relations\": N} (and no maps)");
  if (node.op == "rgcn") {
    shape.channels = node.outChannels;
  } else if (node.op == "conv") {
    auto map = std::find_if(network.maps.begin(), network.maps.end(),
                            [&](const WorkloadMap &m) { return m.name == node.map; });
    if (map == network.maps.end())
      r.fail(p + "/map", fmt::format("no map named '{}'", node.map));
    if (map->coordinates != inputs[0].level)
      r.fail(p + "/map", fmt::format("map '{}' reads level '{}' but tensor '{}' is on level '{}'", node.map,
                                     map->coordinates, node.inputs[0], inputs[0].level));
    shape.level = outputLevel(network, *map);
    shape.channels = node.outChannels;
  } else if (node.op == "add" || node.op == "concat") {
    for (size_t i = 1; i < inputs.size(); ++i) {
      if (inputs[i].level != shape.level)
        r.fail(fmt::format("{}/inputs/{}", p, i), fmt::format("tensor '{}' is on level '{}', tensor '{}' on '{}'",
                                                              node.inputs[i], inputs[i].level, node.inputs[0],
                                                              shape.level));
      if (node.op == "add" && inputs[i].channels != shape.channels)
        r.fail(fmt::format("{}/inputs/{}", p, i), fmt::format("tensor '{}' has {} channels, tensor '{}' has {}",
                                                              node.inputs[i], inputs[i].channels, node.inputs[0],
                                                              shape.channels));
    }
    if (node.op == "concat") {
      shape.channels = 0;
      for (const auto &input : inputs)
        shape.channels += input.channels;
    }
  }
  return shape;
}

// Canonical order of fused ops: a step absorbs an op only after the ones before it.
int opRank(const std::string &op) {
  static const std::vector<std::string> order = {"bias", "scale_shift", "residual_add", "relu"};
  return static_cast<int>(std::find(order.begin(), order.end(), op) - order.begin());
}

} // namespace

const NetworkNode &Network::findNode(const std::string &node) const {
  auto it = std::find_if(nodes.begin(), nodes.end(), [&](const NetworkNode &n) { return n.name == node; });
  if (it == nodes.end())
    throw RuntimeError(fmt::format("network {}: no node named '{}'", source, node));
  return *it;
}

Workload Network::workload() const {
  Workload w;
  w.name = name;
  w.dtype = dtype;
  w.source = source;
  w.inputs = inputs;
  w.maps = maps;
  for (const auto &step : planNetwork(*this))
    if (step.kind == PlanStep::Kind::Conv)
      w.layers.push_back({step.name, step.map, step.inChannels, step.outChannels, step.epilogue});
  return w;
}

Network parseNetwork(const std::string &text, const std::string &source) {
  const JsonReader r("network " + source);
  json document = parseJsonDocument(text, "network " + source);
  Network n;
  n.source = source;
  n.name = r.get<std::string>(document, "", "name");
  n.description = r.get<std::string>(document, "", "description", "");
  n.dtype = parseWorkloadDtype(r, document);
  n.inputChannels = r.get<int>(document, "", "input_channels");
  if (n.inputChannels < 1)
    r.fail("/input_channels", "must be at least 1");
  if (document.contains("graph")) {
    n.graphRelations = r.get<int>(r.get<json>(document, "", "graph"), "/graph", "relations");
    if (n.graphRelations < 1)
      r.fail("/graph/relations", "must be at least 1");
    if (document.contains("maps"))
      r.fail("/maps", "a graph network has no maps: its rgcn nodes read the graph's edges");
    if (document.contains("inputs"))
      r.fail("/inputs", "a graph network takes a graph, not scans");
    n.tensors[Network::kInput] = {Network::kNodeLevel, n.inputChannels, -1};
  } else {
    if (document.contains("inputs")) // benchmark and tuning scans; a description for deployment needs none
      n.inputs = parseWorkloadInputs(r, document);
    n.maps = parseWorkloadMaps(r, document);
    n.tensors[Network::kInput] = {"l0", n.inputChannels, -1};
  }
  auto nodes = r.get<json>(document, "", "nodes");
  if (!nodes.is_array() || nodes.empty())
    r.fail("/nodes", "expected a non-empty array");
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::string p = fmt::format("/nodes/{}", i);
    NetworkNode node = parseNode(r, nodes[i], p);
    if (n.tensors.count(node.name))
      r.fail(p + "/name", fmt::format("tensor '{}' is already defined", node.name));
    n.tensors[node.name] = shapeOf(r, n, node, static_cast<int>(i), p);
    n.nodes.push_back(node);
  }
  n.outputs = r.get<std::vector<std::string>>(document, "", "outputs");
  if (n.outputs.empty())
    r.fail("/outputs", "expected at least one tensor");
  for (size_t i = 0; i < n.outputs.size(); ++i)
    if (!n.tensors.count(n.outputs[i]) || n.outputs[i] == Network::kInput)
      r.fail(fmt::format("/outputs/{}", i), fmt::format("'{}' is not a node of the network", n.outputs[i]));
  validateAgainstSchema(document, "network.schema.json", "network " + source); // unknown fields, enums
  return n;
}

Network loadNetwork(const std::string &path) {
  return parseNetwork(readJsonDocument(path, "network").dump(), path);
}

std::vector<PlanStep> planNetwork(const Network &network) {
  std::map<std::string, std::vector<int>> readers;
  for (size_t i = 0; i < network.nodes.size(); ++i)
    for (const auto &input : network.nodes[i].inputs)
      readers[input].push_back(static_cast<int>(i));
  const std::set<std::string> outputs(network.outputs.begin(), network.outputs.end());
  std::vector<bool> fused(network.nodes.size(), false);
  std::vector<PlanStep> plan;
  for (size_t i = 0; i < network.nodes.size(); ++i) {
    if (fused[i])
      continue;
    const NetworkNode &node = network.nodes[i];
    PlanStep step;
    step.name = node.name;
    step.nodes = {node.name};
    step.inputs = {node.inputs[0]};
    step.inChannels = network.tensors.at(node.inputs[0]).channels;
    step.outChannels = network.tensors.at(node.name).channels;
    if (node.op == "conv" || node.op == "rgcn") {
      step.kind = node.op == "conv" ? PlanStep::Kind::Conv : PlanStep::Kind::Rgcn;
      step.map = node.map;
      if (node.bias) {
        step.epilogue.push_back("bias");
        step.biasOf = node.name;
      }
    } else if (node.op == "concat") {
      step.kind = PlanStep::Kind::Concat;
      step.inputs = node.inputs;
    } else {
      step.kind = PlanStep::Kind::Elementwise;
      if (node.op == "batch_norm") {
        step.epilogue = {"scale_shift"};
        step.scaleShiftOf = node.name;
      } else if (node.op == "relu") {
        step.epilogue = {"relu"};
      } else {
        step.epilogue = {"residual_add"};
        step.residual = node.inputs[1];
      }
    }
    std::string current = node.name;
    while (step.kind != PlanStep::Kind::Concat && !outputs.count(current)) {
      const auto &r = readers[current];
      if (r.size() != 1)
        break;
      const NetworkNode &next = network.nodes[r[0]];
      std::string op = next.op == "batch_norm" ? "scale_shift" : next.op == "add" ? "residual_add" : next.op;
      const bool fusable = op == "scale_shift" || op == "residual_add" || op == "relu";
      if (!fusable || (!step.epilogue.empty() && opRank(op) <= opRank(step.epilogue.back())))
        break;
      if (op == "residual_add") {
        const std::string &other = next.inputs[0] == current ? next.inputs[1] : next.inputs[0];
        if (other == current || network.tensors.at(other).producer >= static_cast<int>(i))
          break; // the residual would not be written before this step starts
        step.residual = other;
      }
      if (op == "scale_shift")
        step.scaleShiftOf = next.name;
      step.epilogue.push_back(op);
      step.nodes.push_back(next.name);
      fused[r[0]] = true;
      current = next.name;
    }
    step.output = current;
    plan.push_back(step);
  }
  return plan;
}

const std::vector<float> &requireParameter(const NetworkParameters &parameters, const std::string &name,
                                           size_t size, const Network &network) {
  auto it = parameters.find(name);
  if (it == parameters.end())
    throw RuntimeError(fmt::format("network {}: parameter '{}' is missing", network.name, name));
  if (it->second.size() != size)
    throw RuntimeError(fmt::format("network {}: parameter '{}' holds {} values, expected {}", network.name, name,
                                   it->second.size(), size));
  return it->second;
}

NetworkParameters randomParameters(const Network &network, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  const uint32_t dtype = dtypeFromName(network.dtype);
  NetworkParameters parameters;
  for (const auto &node : network.nodes) {
    int channels = network.tensors.at(node.name).channels;
    if (node.op == "conv" || node.op == "rgcn") {
      const int volume = node.op == "conv" ? network.findMap(node.map).geometry.volume() : network.rgcnVolume(node);
      int inChannels = network.tensors.at(node.inputs[0]).channels;
      // Rows read about sqrt(volume) neighbours on real scans; with batch-norm scales below 1 this
      // keeps activations O(1) through residual stages instead of growing towards fp16's range.
      // (A normalised graph layer averages per relation, so the same bound holds loosely there.)
      float scale = std::sqrt(3.0f / (std::sqrt(static_cast<float>(volume)) * inChannels));
      auto &weight = parameters[node.name + ".weight"];
      weight.resize(static_cast<size_t>(volume) * inChannels * channels);
      for (auto &w : weight)
        w = roundToElement(unit(random) * scale, dtype);
      if (node.bias) {
        auto &bias = parameters[node.name + ".bias"];
        for (int c = 0; c < channels; ++c)
          bias.push_back(0.1f * unit(random));
      }
    } else if (node.op == "batch_norm") {
      auto &scale = parameters[node.name + ".scale"];
      auto &shift = parameters[node.name + ".shift"];
      for (int c = 0; c < channels; ++c) {
        scale.push_back(0.75f + 0.2f * unit(random));
        shift.push_back(0.1f * unit(random));
      }
    }
  }
  return parameters;
}

std::vector<float> randomFeatures(const Network &network, size_t rows, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  const uint32_t dtype = dtypeFromName(network.dtype);
  std::vector<float> values(rows * network.inputChannels);
  for (auto &v : values)
    v = roundToElement(unit(random), dtype);
  return values;
}

std::vector<Coordinate> levelCoordinatesCpu(const Network &network, const std::vector<Coordinate> &coordinates,
                                            const std::string &level) {
  if (level == "l0")
    return coordinates;
  // Only the maps up to the one producing the level are needed.
  std::vector<WorkloadMap> needed;
  for (const auto &m : network.maps) {
    needed.push_back(m);
    if (m.produces == level)
      return buildMapsCpu(needed, coordinates).at(m.name).outputs;
  }
  throw RuntimeError(fmt::format("network {}: no map produces level '{}'", network.name, level));
}

namespace {

// The description's nodes in float64 from `features` [rows, input_channels]; `layer` computes a
// conv or rgcn node's product (without its bias) from its input.
using ReferenceLayer = std::function<std::vector<double>(const NetworkNode &node, const std::vector<double> &x,
                                                         int inChannels, int outChannels)>;
std::map<std::string, std::vector<double>> referenceForward(const Network &network,
                                                            const NetworkParameters &parameters, size_t rows,
                                                            const std::vector<float> &features,
                                                            const ReferenceLayer &layer) {
  if (features.size() != rows * static_cast<size_t>(network.inputChannels))
    throw RuntimeError(fmt::format("network {}: {} feature values for {} rows of {} channels", network.name,
                                   features.size(), rows, network.inputChannels));
  std::map<std::string, std::vector<double>> tensors;
  tensors[Network::kInput].assign(features.begin(), features.end());
  for (const auto &node : network.nodes) {
    const int channels = network.tensors.at(node.name).channels;
    const auto &x = tensors.at(node.inputs[0]);
    std::vector<double> y;
    if (node.op == "conv" || node.op == "rgcn") {
      y = layer(node, x, network.tensors.at(node.inputs[0]).channels, channels);
      if (node.bias) {
        const auto &bias = requireParameter(parameters, node.name + ".bias", channels, network);
        for (size_t i = 0; i < y.size(); ++i)
          y[i] += bias[i % channels];
      }
    } else if (node.op == "batch_norm") {
      const auto &scale = requireParameter(parameters, node.name + ".scale", channels, network);
      const auto &shift = requireParameter(parameters, node.name + ".shift", channels, network);
      y = x;
      for (size_t i = 0; i < y.size(); ++i)
        y[i] = y[i] * scale[i % channels] + shift[i % channels];
    } else if (node.op == "relu") {
      y = x;
      for (auto &v : y)
        v = std::max(v, 0.0);
    } else if (node.op == "add") {
      const auto &b = tensors.at(node.inputs[1]);
      y = x;
      for (size_t i = 0; i < y.size(); ++i)
        y[i] += b[i];
    } else { // concat: channels side by side, in the order of the inputs
      size_t inputRows = x.size() / network.tensors.at(node.inputs[0]).channels;
      y.resize(inputRows * channels);
      int offset = 0;
      for (const auto &input : node.inputs) {
        int width = network.tensors.at(input).channels;
        const auto &t = tensors.at(input);
        for (size_t row = 0; row < inputRows; ++row)
          std::copy_n(t.begin() + row * width, width, y.begin() + row * channels + offset);
        offset += width;
      }
    }
    tensors[node.name] = std::move(y);
  }
  std::map<std::string, std::vector<double>> result;
  for (const auto &name : network.outputs)
    result[name] = tensors.at(name);
  return result;
}

} // namespace

std::map<std::string, std::vector<double>> referenceNetworkForward(const Network &network,
                                                                   const NetworkParameters &parameters,
                                                                   const std::vector<Coordinate> &coordinates,
                                                                   const std::vector<float> &features) {
  if (network.isGraph())
    throw RuntimeError(fmt::format("network {} is a graph network: it runs on a graph, not coordinates", network.name));
  auto maps = buildMapsCpu(network.maps, coordinates);
  return referenceForward(network, parameters, coordinates.size(), features,
                          [&](const NetworkNode &node, const std::vector<double> &x, int in, int out) {
                            const size_t volume = network.findMap(node.map).geometry.volume();
                            return referenceConvForward(
                                x, requireParameter(parameters, node.name + ".weight", volume * in * out, network),
                                maps.at(node.map), in, out);
                          });
}

std::map<std::string, std::vector<double>> referenceGraphNetworkForward(const Network &network,
                                                                        const NetworkParameters &parameters,
                                                                        const RelationalGraph &graph,
                                                                        const std::vector<float> &features) {
  if (!network.isGraph())
    throw RuntimeError(fmt::format("network {} is not a graph network (it has no \"graph\" field)", network.name));
  if (graph.relations != network.graphRelations)
    throw RuntimeError(fmt::format("graph {}: {} relations, network {} takes graphs of {}", graph.source,
                                   graph.relations, network.name, network.graphRelations));
  return referenceForward(
      network, parameters, static_cast<size_t>(graph.nodes), features,
      [&](const NetworkNode &node, const std::vector<double> &x, int in, int out) {
        // The relations' weights come first, W_self last.
        const auto &weight = requireParameter(parameters, node.name + ".weight",
                                              static_cast<size_t>(network.rgcnVolume(node)) * in * out, network);
        const size_t relationValues = static_cast<size_t>(graph.relations) * in * out;
        std::vector<float> weights(weight.begin(), weight.begin() + relationValues);
        std::vector<float> selfWeight(node.root ? weight.begin() + relationValues : weight.end(), weight.end());
        return referenceRgcnForward(graph, x, in, out, weights, selfWeight, {},
                                    parseRelationNormalization(node.aggregation));
      });
}

} // namespace sparsekgen
