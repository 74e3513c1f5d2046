// Whole networks end to end: from voxel coordinates and features on the GPU to the network's
// output, every kernel map built in each run, each convolution dispatched through the config
// table. CUDA events around each run, median after warm-up; then one profiled run for the
// per-stage breakdown, and every convolution timed alone on that run's tensors (kernel time,
// useful TFLOP/s = 2 x pairs x Cin x Cout / time). Random fp16 features and parameters.
//
//   sparsekgen-bench-network --network N.json [--table T.json] [--out R.json] [--dump-coordinates DIR] INPUT...
//   INPUT: scan.bin:COLUMNS (voxelized at --voxel-size) or coords.i32 (int32 [N, 4] = batch, z, y, x)
#include <algorithm>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/tools/CommandLine.h"
#include "sparsekgen/Conv.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/NetworkExecutor.h"
#include "sparsekgen/Verification.h"
#include "sparsekgen/RunReport.h"
#include "ApplicationBundles.h"

namespace {

using namespace sparsekgen;

struct Options {
  std::string network, table, out, dumpDir, dtype;
  std::vector<std::string> inputs;
  float voxelSize = 0.05f;
  int warmup = 10, iterations = 50, layerIterations = 30;
  bool allowMismatch = false, withoutHopperKernels = false;
};

const char *sourceName(Dispatch::Source source) {
  switch (source) {
  case Dispatch::Source::Exact:
    return "exact";
  case Dispatch::Source::Nearest:
    return "nearest";
  default:
    return "heuristic";
  }
}

nlohmann::json benchInput(Context &context, NetworkExecutor &executor, const reports::BenchInput &input,
                          const Options &o) {
  const Network &network = executor.network();
  const uint32_t dtype = dtypeFromName(network.dtype);
  const int rows = static_cast<int>(input.coordinates.size());
  auto coordinates = DeviceBuffer::from(input.coordinates);
  auto features = DeviceBuffer::from(encodeElements(randomFeatures(network, rows, 17), dtype));
  // Checked run: every output row written with finite values.
  auto outputs = executor.run(coordinates.get(), rows, features.get());
  for (const auto &[name, tensor] : outputs) {
    long long bad = countNonFiniteRows(tensor.data, tensor.rows, tensor.channels, dtype);
    if (bad != 0)
      throw RuntimeError(fmt::format("{} on {}: {} rows of output '{}' are not finite", network.name, input.label,
                                     bad, name));
  }
  outputs.clear();
  const TimeSpread spread = spreadOfEventTimes(
      eventMilliseconds([&] { executor.run(coordinates.get(), rows, features.get()); }, o.warmup, o.iterations));
  const double endToEnd = spread.median;
  executor.run(coordinates.get(), rows, features.get(), {.profile = true});
  const NetworkStageTimes stages = executor.stageTimes();
  executor.run(coordinates.get(), rows, features.get(), {.keepIntermediates = true});
  nlohmann::json layers = nlohmann::json::array();
  double convKernelSum = 0, otherKernelSum = 0;
  size_t conv = 0;
  for (size_t step = 0; step < executor.plan().size(); ++step) {
    const PlanStep &p = executor.plan()[step];
    double ms = executor.timeStep(step, 3, o.layerIterations);
    if (p.kind != PlanStep::Kind::Conv) {
      otherKernelSum += ms;
      continue;
    }
    convKernelSum += ms;
    const ConvDispatch &d = executor.dispatches().at(conv++);
    double flops = 2.0 * static_cast<double>(d.pairs) * d.inChannels * d.outChannels;
    layers.push_back({{"name", p.name},
                      {"map", p.map},
                      {"in_channels", d.inChannels},
                      {"out_channels", d.outChannels},
                      {"kernel_volume", d.volume},
                      {"outputs", d.outputs},
                      {"pairs", d.pairs},
                      {"epilogue", p.epilogue},
                      {"kernel", d.kernel},
                      {"splits", d.splits},
                      {"dispatch", sourceName(d.source)},
                      {"ms", ms},
                      {"useful_tflops", flops / (ms * 1e9)}});
  }
  fmt::print("{:<34} {:>8} {:>10.3f} ms end to end | maps {:.3f} (host {:.3f}), sort inputs {:.3f} (host {:.3f}), "
             "convolutions {:.3f}, element-wise {:.3f} (profiled run {:.3f}) | kernels alone: conv {:.3f}, other "
             "{:.3f}\n",
             input.label, rows, endToEnd, stages.maps, stages.mapsHost, stages.mapExtras, stages.mapExtrasHost,
             stages.convolutions, stages.elementwise, stages.total, convKernelSum, otherKernelSum);
  return {{"input", input.label},
          {"voxels", rows},
          {"end_to_end_ms", endToEnd},
          {"end_to_end_p10_ms", spread.p10},
          {"end_to_end_p90_ms", spread.p90},
          {"profiled_run",
           {{"total_ms", stages.total},
            {"maps_ms", stages.maps},
            {"map_extras_ms", stages.mapExtras},
            {"maps_host_ms", stages.mapsHost},
            {"map_extras_host_ms", stages.mapExtrasHost},
            {"convolutions_ms", stages.convolutions},
            {"elementwise_ms", stages.elementwise}}},
          {"conv_kernels_alone_sum_ms", convKernelSum},
          {"other_kernels_alone_sum_ms", otherKernelSum},
          {"layers", layers}};
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  CLI::App app{"Times whole networks end to end (maps included) on the GPU, with a per-stage breakdown and "
               "per-layer kernel times."};
  tools::applyConventions(app, "sparsekgen-bench-network");
  app.add_option("--network", o.network, "network description (bench/networks/*.json)")->required();
  app.add_option("--table", o.table, "config table for dispatch (default: the heuristic)");
  app.add_option("--dtype", o.dtype, "run the network in this element type instead of its description's")
      ->check(CLI::IsMember(std::vector<std::string>(dtypeSpellings().begin(), dtypeSpellings().end())));
  app.add_flag("--allow-mismatch", o.allowMismatch, "accept a table tuned on another GPU or bundle");
  app.add_flag("--without-hopper-kernels", o.withoutHopperKernels,
               "dispatch to the default bundle's kernels only, leaving out the Hopper bundle's warpgroup-MMA kernels");
  app.add_option("--out", o.out, "JSON results");
  app.add_option("--dump-coordinates", o.dumpDir, "write each input's coordinates for bench/peers/");
  app.add_option("--voxel-size", o.voxelSize, "voxel size for scans, metres")->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed runs first")->capture_default_str();
  app.add_option("--iterations", o.iterations, "timed runs per input")->capture_default_str();
  app.add_option("inputs", o.inputs, "scan.bin:COLUMNS or coords.i32 (batch, z, y, x)")->required();
  if (int status = tools::parseCommandLine(app, argc, argv); status >= 0)
    return status;
  return tools::runReportingErrors("sparsekgen-bench-network", [&]() -> int {
    Context context(0, applicationBundles(!o.withoutHopperKernels));
    Network network = loadNetwork(o.network);
    if (!o.dtype.empty())
      network.dtype = o.dtype;
    ConfigTable table;
    if (!o.table.empty()) {
      table = ConfigTable::load(o.table);
      table.requireMatch(context.device().name, context.device().sm, context.bundleHash(), o.allowMismatch);
    }
    NetworkExecutor executor(context, network, randomParameters(network, 7), o.table.empty() ? nullptr : &table);
    auto convolutions = std::count_if(executor.plan().begin(), executor.plan().end(),
                                      [](const PlanStep &step) { return step.kind == PlanStep::Kind::Conv; });
    fmt::print("{} on {}: {} steps ({} convolutions), dispatch by {} among the {}\n", network.name,
               context.device().name, executor.plan().size(), convolutions,
               o.table.empty() ? "the heuristic" : reports::baseName(o.table), describeBundles(context.bundles()));
    nlohmann::json runs = nlohmann::json::array();
    for (const auto &spec : o.inputs) {
      auto input = reports::loadBenchInput(spec, o.voxelSize);
      if (!o.dumpDir.empty())
        reports::dumpCoordinates(o.dumpDir, input);
      runs.push_back(benchInput(context, executor, input, o));
    }
    nlohmann::json report = reports::reportHeader("network_end_to_end", context);
    report["network"] = network.name;
    report["table"] = o.table.empty() ? "" : reports::baseName(o.table);
    report["bundle_hash"] = context.bundleHash();
    report["bundles"] = describeBundles(context.bundles());
    report["dtype"] = network.dtype;
    report["method"] = fmt::format(
        "from voxel coordinates and random {} features on the GPU to the output, every kernel map built per run; "
        "CUDA events around each run, median (and 10th, 90th percentiles) of {} after {} warm-up runs; per layer: the step alone on the run's "
        "tensors, median of {}; scans voxelized at {} m",
        network.dtype, o.iterations, o.warmup, o.layerIterations, o.voxelSize);
    report["runs"] = runs;
    reports::writeReport(report, o.out);
    return 0;
  });
}
