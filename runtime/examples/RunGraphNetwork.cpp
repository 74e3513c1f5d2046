// An application running a graph network (docs/graphs.md): a description with rgcn layers and its
// executor weights, on a graph document, with the node features the document holds or a raw file;
// each output written as raw float32 beside a line saying its shape.
//
//   sparsekgen-run-graph-network net.json net.safetensors graph.json -o outputs/ [--features F] [--tf32]
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "RawTensorFiles.h"
#include "sparsekgen/tools/CommandLine.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/Graph.h"
#include "sparsekgen/GraphNetworkExecutor.h"
#include "sparsekgen/Safetensors.h"
#include "sparsekgen_graph_kernels.h"

int main(int argc, char **argv) {
  std::string networkPath, weightsPath, graphPath, featuresPath, outDir;
  bool tf32 = false;
  CLI::App app{"Run a graph network (rgcn layers) with its executor weights on a relational graph and write its "
               "outputs"};
  sparsekgen::tools::applyConventions(app, "sparsekgen-run-graph-network");
  app.add_option("network", networkPath, "graph network description (JSON with \"graph\": {\"relations\": N})")
      ->required();
  app.add_option("weights", weightsPath,
                 "executor weights (safetensors: <rgcn>.weight [relations (+1 with root), Cin, Cout], <rgcn>.bias, "
                 "<bn>.scale/.shift)")
      ->required();
  app.add_option("graph", graphPath, "graph document (schemas/graph.schema.json)")->required();
  app.add_option("-o,--out", outDir, "directory for <output>.f32 (float32 [nodes, channels])")->required();
  app.add_option("--features", featuresPath,
                 "float32 [nodes, input_channels] raw (default: the features the graph document holds)");
  app.add_flag("--tf32", tf32, "f32 networks: tf32 kernels (10-bit mantissa) instead of exact fp32");
  if (int status = sparsekgen::tools::parseCommandLine(app, argc, argv); status >= 0)
    return status;
  return sparsekgen::tools::runReportingErrors("sparsekgen-run-graph-network", [&]() -> int {
    std::string why;
    if (sparsekgen::Context::deviceCount(&why) == 0) {
      fmt::print(stderr, "sparsekgen-run-graph-network: error: no GPU: {}\n", why);
      return sparsekgen::tools::kExitNoGpu;
    }
    sparsekgen::Network network = sparsekgen::loadNetwork(networkPath);
    if (!network.isGraph())
      throw sparsekgen::RuntimeError(
          fmt::format("network {} reads coordinates: run it with sparsekgen-run-network", networkPath));
    sparsekgen::RelationalGraph graph = sparsekgen::loadRelationalGraph(graphPath);
    std::vector<float> features;
    if (!featuresPath.empty()) {
      features = sparsekgen::examples::readRaw<float>(featuresPath, network.inputChannels, "features");
      if (features.size() != static_cast<size_t>(graph.nodes) * network.inputChannels)
        throw sparsekgen::RuntimeError(fmt::format("features {}: {} rows, the graph has {} nodes", featuresPath,
                                                   features.size() / network.inputChannels, graph.nodes));
    } else if (graph.featureChannels == network.inputChannels) {
      features = graph.features;
    } else {
      throw sparsekgen::RuntimeError(fmt::format(
          "graph {}: {} feature channels, network {} takes {}; give --features", graphPath, graph.featureChannels,
          networkPath, network.inputChannels));
    }
    sparsekgen::Context context(0, sparsekgen_graph_kernels);
    sparsekgen::GraphNetworkExecutor executor(context, network, sparsekgen::loadSafetensors(weightsPath),
                                              {tf32});
    executor.setGraph(graph);
    for (const auto &d : executor.dispatches())
      fmt::print(stderr, "{}: {}{}\n", d.layer, d.kernel,
                 d.unfused.empty() ? "" : fmt::format(" (then element-wise: {})", fmt::join(d.unfused, ", ")));
    const uint32_t dtype = sparsekgen::dtypeFromName(network.dtype);
    auto deviceFeatures = sparsekgen::DeviceBuffer::from(sparsekgen::encodeElements(features, dtype));
    auto outputs = executor.run(deviceFeatures.get());
    context.synchronize("the graph network run");
    sparsekgen::examples::writeOutputs(outputs, dtype, outDir);
    return 0;
  });
}
