// An application running a trained network: the description and weights a model exported from
// Python (docs/python.md) or any description with executor weights, on coordinates and features
// read from raw files; each output written as raw float32 beside a line saying its shape.
//
//   sparsekgen-run-network net.json net.safetensors coords.i32 feats.f32 -o outputs/ [--table T]
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "ApplicationBundles.h"
#include "RawTensorFiles.h"
#include "sparsekgen/tools/CommandLine.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/NetworkExecutor.h"
#include "sparsekgen/Safetensors.h"

using sparsekgen::examples::readRaw;

int main(int argc, char **argv) {
  std::string networkPath, weightsPath, coordinatesPath, featuresPath, outDir, tablePath;
  CLI::App app{"Run a network description with its executor weights on one input and write its outputs"};
  sparsekgen::tools::applyConventions(app, "sparsekgen-run-network");
  app.add_option("network", networkPath, "network description (JSON)")->required();
  app.add_option("weights", weightsPath, "executor weights (safetensors: <conv>.weight, <bn>.scale/.shift)")
      ->required();
  app.add_option("coordinates", coordinatesPath, "int32 [N, 4] raw: batch, x, y, z (unique rows)")->required();
  app.add_option("features", featuresPath, "float32 [N, input_channels] raw")->required();
  app.add_option("-o,--out", outDir, "directory for <output>.f32 (float32 [rows, channels])")->required();
  app.add_option("--table", tablePath, "config table for dispatch (default: the heuristic)");
  if (int status = sparsekgen::tools::parseCommandLine(app, argc, argv); status >= 0)
    return status;
  return sparsekgen::tools::runReportingErrors("sparsekgen-run-network", [&]() -> int {
    std::string why;
    if (sparsekgen::Context::deviceCount(&why) == 0) {
      fmt::print(stderr, "sparsekgen-run-network: error: no GPU: {}\n", why);
      return sparsekgen::tools::kExitNoGpu;
    }
    sparsekgen::Network network = sparsekgen::loadNetwork(networkPath);
    if (network.isGraph())
      throw sparsekgen::RuntimeError(fmt::format("network {} is a graph network: run it with "
                                                 "sparsekgen-run-graph-network", networkPath));
    auto coordinates = readRaw<int32_t>(coordinatesPath, 4, "coordinates");
    const size_t rows = coordinates.size() / 4;
    auto features = readRaw<float>(featuresPath, network.inputChannels, "features");
    if (features.size() != rows * network.inputChannels)
      throw sparsekgen::RuntimeError(fmt::format("features {}: {} rows, the coordinates have {}", featuresPath,
                                                 features.size() / network.inputChannels, rows));
    sparsekgen::Context context(0, sparsekgen::applicationBundles());
    sparsekgen::ConfigTable table;
    if (!tablePath.empty()) {
      table = sparsekgen::ConfigTable::load(tablePath);
      table.requireMatch(context.device().name, context.device().sm, context.bundleHash(), false);
    }
    sparsekgen::NetworkExecutor executor(context, network, sparsekgen::loadSafetensors(weightsPath),
                                         tablePath.empty() ? nullptr : &table);
    const uint32_t dtype = sparsekgen::dtypeFromName(network.dtype);
    auto deviceCoordinates = sparsekgen::DeviceBuffer::from(coordinates);
    auto deviceFeatures = sparsekgen::DeviceBuffer::from(sparsekgen::encodeElements(features, dtype));
    auto outputs = executor.run(deviceCoordinates.get(), static_cast<int>(rows), deviceFeatures.get());
    context.synchronize("the network run");
    sparsekgen::examples::writeOutputs(outputs, dtype, outDir);
    return 0;
  });
}
