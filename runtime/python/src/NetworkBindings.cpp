// The network-description side of sparsekgen._cpu: writing an exported model's weights for the
// C++ executor (checked against the description, batch norm folded, saved atomically) and the
// float64 reference run of a description, which the export is tested against.
#include "NetworkBindings.h"

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include "Arrays.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/Graph.h"
#include "sparsekgen/Network.h"
#include "sparsekgen/Safetensors.h"
#include "sparsekgen/TrainingParameters.h"

namespace nb = nanobind;

namespace sparsekgen {
namespace {

using FloatArray = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;

NetworkParameters parametersOf(const nb::dict &arrays, const char *what) {
  NetworkParameters parameters;
  for (auto [key, value] : arrays) {
    std::string name = nb::cast<std::string>(key);
    FloatArray array;
    if (!nb::try_cast(value, array))
      throw RuntimeError(fmt::format("{}: parameter '{}' is not a contiguous float32 CPU array", what, name));
    parameters[name].assign(array.data(), array.data() + array.size());
  }
  return parameters;
}

// The shapes the executor's parameters are saved with: the training shapes, and [C] for the folded
// batch-norm scale and shift.
std::vector<ParameterShape> executorShapes(const Network &network, const NetworkParameters &folded) {
  std::map<std::string, ParameterShape> training;
  for (auto &shape : trainingParameterShapes(network))
    training[shape.name] = shape;
  std::vector<ParameterShape> shapes;
  for (const auto &[name, values] : folded) {
    auto it = training.find(name);
    shapes.push_back(it != training.end() ? it->second
                                          : ParameterShape{name, {static_cast<int64_t>(values.size())}, true});
  }
  return shapes;
}

// A reference run's outputs as float64 [rows, channels] arrays by name.
nb::dict outputArrays(const Network &network, std::map<std::string, std::vector<double>> &outputs) {
  nb::dict result;
  for (const auto &name : network.outputs) {
    std::vector<double> &values = outputs.at(name);
    const size_t channels = network.tensors.at(name).channels, count = values.size() / channels;
    result[name.c_str()] = python::ownedArray(std::move(values), std::array<size_t, 2>{count, channels});
  }
  return result;
}

} // namespace

void bindNetworks(nb::module_ &m) {
  m.def(
      "save_executor_weights",
      [](const std::string &description, const std::string &source, const nb::dict &training, const std::string &path,
         double eps) {
        Network network = parseNetwork(description, source);
        NetworkParameters parameters = parametersOf(training, "save_executor_weights");
        checkTrainingParameters(network, parameters);
        NetworkParameters folded = foldBatchNorm(network, parameters, eps);
        saveSafetensors(path, folded, executorShapes(network, folded));
      },
      nb::arg("description"), nb::arg("source"), nb::arg("training_parameters"), nb::arg("path"), nb::arg("eps") = 1e-5,
      "Checks a description's training parameters (PyTorch state_dict names), folds batch norm with\n"
      "its running statistics and writes what NetworkExecutor reads to a safetensors file (atomically).");

  m.def(
      "reference_network_forward",
      [](const std::string &description, const std::string &source, const std::string &weightsPath,
         const python::CoordinateRows &coordinates,
         nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu> features) {
        Network network = parseNetwork(description, source);
        std::vector<Coordinate> rows = python::coordinatesOf(coordinates, "reference_network_forward");
        if (features.shape(0) != rows.size())
          throw RuntimeError(fmt::format("reference_network_forward: {} coordinate rows but features [{}, {}]",
                                         rows.size(), features.shape(0), features.shape(1)));
        auto outputs = referenceNetworkForward(network, loadSafetensors(weightsPath), rows,
                                               {features.data(), features.data() + features.size()});
        return outputArrays(network, outputs);
      },
      nb::arg("description"), nb::arg("source"), nb::arg("weights_path"), nb::arg("coordinates"), nb::arg("features"),
      "Runs a description in float64 on the CPU with the weights NetworkExecutor reads; its outputs by name.");

  m.def(
      "reference_graph_network_forward",
      [](const std::string &description, const std::string &source, const std::string &weightsPath,
         const std::string &graphPath, nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu> features) {
        Network network = parseNetwork(description, source);
        RelationalGraph graph = loadRelationalGraph(graphPath);
        if (features.shape(0) != static_cast<size_t>(graph.nodes))
          throw RuntimeError(fmt::format("reference_graph_network_forward: graph {} has {} nodes but features [{}, {}]",
                                         graphPath, graph.nodes, features.shape(0), features.shape(1)));
        auto outputs = referenceGraphNetworkForward(network, loadSafetensors(weightsPath), graph,
                                                    {features.data(), features.data() + features.size()});
        return outputArrays(network, outputs);
      },
      nb::arg("description"), nb::arg("source"), nb::arg("weights_path"), nb::arg("graph_path"), nb::arg("features"),
      "Runs a graph network description in float64 on the CPU over a graph document, with the weights\n"
      "GraphNetworkExecutor reads; its outputs by name.");
}

} // namespace sparsekgen
