#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "sparsekgen/BundleManifest.h"
#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/IndexWidth.h"
#include "sparsekgen/generator/Errors.h"

namespace sparsekgen {

namespace {
struct ExplainOptions {
  std::string table, dtype = "f16", epilogue, operation = "forward";
  std::vector<std::string> bundles;
  int inChannels = 0, outChannels = 0, kernelVolume = 27;
  long long inputs = 0, outputs = 0, pairs = 0;
  bool transposed = false, allowMismatch = false;
};

void runExplain(const ExplainOptions &o) {
  // The bundles an application links, as one set of kernels (a Context over several bundles).
  std::vector<KernelDescription> kernels;
  std::vector<std::string> hashes;
  for (const auto &bundle : o.bundles) {
    std::string manifestPath;
    const std::string text = readManifestText(bundle, &manifestPath);
    const BundleManifest manifest = parseBundleManifest(text, manifestPath);
    hashes.push_back(manifest.bundleHash);
    kernels.insert(kernels.end(), manifest.kernels.begin(), manifest.kernels.end());
  }
  const std::string hash = joinBundleHashes(hashes);
  const std::string bundleNames = fmt::format("{}", fmt::join(o.bundles, " + "));
  std::vector<std::string> epilogue;
  for (size_t start = 0; start < o.epilogue.size();) {
    size_t comma = o.epilogue.find(',', start);
    epilogue.push_back(o.epilogue.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    start = comma == std::string::npos ? o.epilogue.size() : comma + 1;
    const auto &known = epilogueOpSpellings();
    if (std::find(known.begin(), known.end(), epilogue.back()) == known.end())
      throw RuntimeError(fmt::format("--epilogue: unknown op '{}'; the ops are {}", epilogue.back(),
                                     fmt::join(known, ", ")));
  }
  LayerKey key = layerKey(o.inChannels, o.outChannels, o.kernelVolume, o.transposed, o.dtype, epilogue, o.outputs,
                          o.pairs);
  key.operation = o.operation;
  // Where no kernel fuses the epilogue, the executor launches the convolution alone and runs the
  // epilogue as an element-wise pass (ConvLaunchPlan.h): explain that kernel, and say so.
  std::string unfused;
  if (!key.epilogue.empty() && !anyKernelTakes(kernels, key)) {
    unfused = fmt::format("no kernel fuses epilogue [{}]: the network executor launches this kernel alone and runs "
                          "the epilogue as an element-wise pass",
                          fmt::join(key.epilogue, ", "));
    key.epilogue.clear();
  }
  Dispatch dispatch;
  if (o.table.empty()) {
    dispatch = heuristicChoice(key, kernels);
  } else {
    ConfigTable table = ConfigTable::load(o.table);
    // A table tuned for some of the given bundles matches (requireMatch's rule); one naming a bundle
    // not given is refused unless --allow-mismatch.
    if (const std::string mismatch = table.bundleMismatch(hash); !mismatch.empty()) {
      if (!o.allowMismatch)
        throw RuntimeError(fmt::format("config table {} was {} ({}; --allow-mismatch uses it anyway)", o.table,
                                       mismatch, bundleNames));
      fmt::print(stderr, "sparsekgen: warning: config table {} was {} ({}); used anyway (--allow-mismatch)\n",
                 o.table, mismatch, bundleNames);
    }
    dispatch = table.dispatch(key, kernels);
  }
  dispatch = widenWhereNeeded(dispatch, key, {o.inputs > 0 ? o.inputs : o.outputs, o.outputs, o.pairs}, kernels);
  const std::string splits = dispatch.choice.splits == 0 ? "0 (chosen by the runtime for each layer's pairs)"
                                                          : std::to_string(dispatch.choice.splits);
  fmt::print("kernel  {}\nsplits  {}\nwhy     {}\n", dispatch.choice.kernel, splits, dispatch.reason);
  if (!unfused.empty())
    fmt::print("note    {}\n", unfused);
}
} // namespace

void addExplainCommand(CLI::App &app) {
  static ExplainOptions o;
  auto *command = app.add_subcommand("explain", "Say which kernel a convolution layer gets from a config table (or "
                                                "the heuristic without one) and why");
  command->add_option("bundles", o.bundles,
                      "bundle directories or their manifest.json, one or more: the bundles an application links "
                      "(e.g. build/bundle build/hopper-bundle), chosen among as one set")
      ->required();
  command->add_option("--table", o.table, "config table (schemas/config-table.schema.json)");
  command->add_option("--in", o.inChannels, "input channels")->required()->check(CLI::PositiveNumber);
  command->add_option("--out", o.outChannels, "output channels")->required()->check(CLI::PositiveNumber);
  command->add_option("--kernel-volume", o.kernelVolume, "kernel offsets (27 for 3x3x3)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  command->add_flag("--transposed", o.transposed, "a transposed (upsampling) layer");
  command->add_option("--dtype", o.dtype, "operand type")->check(CLI::IsMember(std::vector<std::string>(dtypeSpellings().begin(), dtypeSpellings().end())))->capture_default_str();
  command->add_option("--epilogue", o.epilogue, "fused ops, comma-separated (e.g. scale_shift,relu)");
  command->add_option("--operation", o.operation, "the pass whose kernel is chosen (each is chosen separately)")
      ->check(CLI::IsMember(std::vector<std::string>(operationSpellings().begin(), operationSpellings().end())))
      ->capture_default_str();
  command->add_option("--outputs", o.outputs, "output points of the layer's map")
      ->required()
      ->check(CLI::Range(1LL, 1LL << 40));
  command->add_option("--inputs", o.inputs, "input points of the layer's map (default: as many as --outputs)")
      ->check(CLI::Range(1LL, 1LL << 40));
  command->add_option("--pairs", o.pairs, "neighbour pairs of the map (outputs x mean neighbours)")
      ->required()
      ->check(CLI::Range(1LL, 1LL << 50));
  command->add_flag("--allow-mismatch", o.allowMismatch, "use a table tuned for another bundle");
  command->callback([] { runExplain(o); });
}

} // namespace sparsekgen
