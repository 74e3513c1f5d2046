// sparsekgen-tune: times every legal candidate (kernel x splits) of every layer group of a workload
// on the GPU and writes a config table; with --evaluate, times a network's forward pass with a
// table's choices against the heuristic default on other inputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/Workload.h"
#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/Verification.h"
#include "../../bench/BenchReport.h"
#include "sparsekgen_kernels.h"

namespace {

using namespace sparsekgen;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string workload, data, out, evaluate, report;
  std::vector<std::string> inputs;
  double abandonRatio = 1.5, tolerance = 2e-2;
  int iterations = 31;
  bool allowMismatch = false;
};

uint32_t dtypeCode(const std::string &name) { return name == "bf16" ? SKG_BF16 : name == "f32" ? SKG_F32 : SKG_F16; }

uint32_t epilogueCode(const std::string &name) {
  if (name == "bias") return SKG_EPILOGUE_BIAS;
  if (name == "scale_shift") return SKG_EPILOGUE_SCALE_SHIFT;
  if (name == "relu") return SKG_EPILOGUE_RELU;
  if (name == "residual_add") return SKG_EPILOGUE_RESIDUAL_ADD;
  throw RuntimeError(fmt::format("unknown epilogue op '{}'", name));
}

struct Candidate {
  const skg_kernel_record *kernel;
  int splits;
  std::string label() const { return splits > 1 ? fmt::format("{} x{} splits", kernel->name, splits) : kernel->name; }
};

struct Bundle {
  std::vector<const skg_kernel_record *> records;
  std::vector<KernelDescription> descriptions;
  const skg_kernel_record &record(const std::string &name) const {
    for (size_t i = 0; i < records.size(); ++i)
      if (descriptions[i].name == name)
        return *records[i];
    throw RuntimeError(fmt::format("kernel {} is not in the linked bundle", name));
  }
};

// Kernels whose types, epilogue and channel alignment fit the group, each with the split counts
// its dataflow takes (split kernels 2, 3 and 4 where the map has that many offsets).
std::vector<Candidate> candidatesFor(const Bundle &bundle, const LayerGroup &group, const std::string &dtype,
                                     int volume) {
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < bundle.records.size(); ++i) {
    const KernelDescription &k = bundle.descriptions[i];
    if (k.operand != dtype || (dtype == "f32" ? k.output != "f32" : k.output != dtype) || k.epilogue != group.epilogue ||
        group.inChannels % k.alignment != 0 || group.outChannels % k.alignment != 0)
      continue;
    if (bundle.records[i]->dataflow == SKG_IMPLICIT_GEMM_SPLIT) {
      for (int splits = 2; splits <= std::min(4, volume); ++splits)
        candidates.push_back({bundle.records[i], splits});
    } else {
      candidates.push_back({bundle.records[i], 1});
    }
  }
  return candidates;
}

// One problem per (input, layer group), with its map statistics for the table key.
struct GroupProblem {
  ConvProblem problem;
  LayerKey key;
};

GroupProblem makeGroupProblem(const Workload &workload, const LayerGroup &group, const KernelMap &map) {
  ConvTypes types{dtypeCode(workload.dtype), dtypeCode(workload.dtype), {}};
  for (const auto &op : group.epilogue)
    types.epilogueOps.push_back(epilogueCode(op));
  long long pairs = std::count_if(map.outInMap.begin(), map.outInMap.end(), [](int32_t i) { return i >= 0; });
  LayerKey key = layerKey(group.inChannels, group.outChannels, map.volume, workload.findMap(group.map).transposed(),
                          workload.dtype, group.epilogue, map.outputCount(), pairs);
  return {makeConvProblem(map, group.inChannels, group.outChannels, 11, types), key};
}

class ProgressBar {
public:
  explicit ProgressBar(long total) : total_(total), start_(Clock::now()) {}
  void step(const std::string &what) {
    ++done_;
    double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    double left = done_ ? elapsed / done_ * (total_ - done_) : 0;
    int filled = static_cast<int>(30.0 * done_ / std::max(1L, total_));
    fmt::print(stderr, "\r[{:=<{}}{: <{}}] {:>5}/{} candidates  {:>4.0f} s elapsed, ~{:>4.0f} s left  {:<40.40}",
               "", filled, "", 30 - filled, done_, total_, elapsed, left, what);
    if (done_ == total_)
      fmt::print(stderr, "\n");
  }

private:
  long total_, done_ = 0;
  Clock::time_point start_;
};

double time(Context &context, DeviceConvProblem &gpu, const Candidate &c, int warmup, int iterations) {
  auto args = argumentsFor(gpu, *c.kernel, c.splits);
  return medianMilliseconds([&] { convForward(context, *c.kernel, args); }, warmup, iterations);
}

// The output of the heuristic default as a float64 vector: the reference every candidate of the
// group must match (the default itself is checked against float64 by the GPU tests).
std::vector<double> referenceFrom(Context &context, DeviceConvProblem &gpu, const Candidate &c) {
  auto args = argumentsFor(gpu, *c.kernel, c.splits);
  convForward(context, *c.kernel, args);
  context.synchronize(c.kernel->name);
  auto values = decodeElements(gpu.output.download<uint8_t>(), c.kernel->output_type);
  return {values.begin(), values.end()};
}

struct Tally {
  double totalMs = 0;
  int samples = 0;
  bool abandoned = false;
};

int tune(const Options &o, const Workload &workload, Context &context, const Bundle &bundle) {
  auto groups = workload.layerGroups();
  std::vector<WorkloadInput> inputs = workload.inputs;
  std::vector<std::vector<Candidate>> candidates;
  long total = 0;
  for (const auto &g : groups) {
    const auto &geometry = workload.findMap(g.map).geometry;
    candidates.push_back(candidatesFor(bundle, g, workload.dtype, geometry.volume()));
    if (candidates.back().empty())
      throw RuntimeError(fmt::format("layer {}: no kernel of the bundle fits (Cin {}, Cout {}, {}, epilogue [{}])",
                                     g.layers.front(), g.inChannels, g.outChannels, workload.dtype,
                                     fmt::join(g.epilogue, ", ")));
    total += static_cast<long>(candidates.back().size() * inputs.size());
  }
  fmt::print("tuning {}: {} layers in {} groups, {} inputs, {} candidate timings on {}\n", workload.name,
             workload.layers.size(), groups.size(), inputs.size(), total, context.device().name);
  // Per table key: each candidate's summed time over the inputs that fall on that key.
  struct KeyResult {
    LayerKey key;
    std::vector<std::string> layers;
    std::map<std::string, Tally> tallies;
    std::map<std::string, Candidate> byLabel;
    std::string defaultLabel;
  };
  std::vector<KeyResult> results;
  ProgressBar progress(total);
  for (const auto &input : inputs) {
    auto maps = buildWorkloadMaps(workload, input, o.data);
    for (size_t g = 0; g < groups.size(); ++g) {
      auto [problem, key] = makeGroupProblem(workload, groups[g], maps.at(groups[g].map));
      auto gpu = uploadConvProblem(problem);
      Dispatch fallback = heuristicChoice(key, bundle.descriptions);
      Candidate defaultCandidate{&bundle.record(fallback.choice.kernel), 1};
      auto reference = referenceFrom(context, gpu, defaultCandidate);
      auto it = std::find_if(results.begin(), results.end(), [&](const KeyResult &r) { return r.key == key; });
      if (it == results.end())
        it = results.insert(results.end(), {key, {}, {}, {}, defaultCandidate.label()});
      for (const auto &name : groups[g].layers)
        if (std::find(it->layers.begin(), it->layers.end(), name) == it->layers.end())
          it->layers.push_back(name);
      double best = std::numeric_limits<double>::infinity();
      for (const auto &c : candidates[g]) {
        progress.step(groups[g].layers.front() + " " + c.kernel->name);
        std::string label = c.label();
        it->byLabel.emplace(label, c);
        Tally &tally = it->tallies[label];
        auto check = runAndCheck(context, *c.kernel, gpu, reference, c.splits);
        if (check.unwrittenRows != 0 || !(check.relativeError <= o.tolerance))
          throw RuntimeError(fmt::format("layer {}: {} disagrees with the default {} (relative error {:.2e}, {} "
                                         "unwritten rows)",
                                         groups[g].layers.front(), label, defaultCandidate.label(),
                                         check.relativeError, check.unwrittenRows));
        // A short probe first: candidates far slower than the best so far are abandoned.
        double probe = time(context, gpu, c, 2, 5);
        if (probe > o.abandonRatio * best && label != it->defaultLabel) {
          tally.abandoned = true;
          continue;
        }
        double ms = time(context, gpu, c, 3, o.iterations);
        best = std::min(best, ms);
        tally.totalMs += ms;
        ++tally.samples;
      }
    }
  }
  ConfigTable table;
  table.gpuName = context.device().name;
  table.gpuSm = context.device().sm;
  table.cudaDriverVersion = context.device().driverVersion;
  table.bundleHash = sparsekgen_kernels.bundle_hash;
  table.date = bench::todayUtc();
  table.workload = workload.name;
  for (const auto &input : inputs)
    table.tunedOn.push_back(input.label());
  fmt::print("\n{:<34} {:<62} {:>9} {:>9} {:>8}\n", "layers (key)", "choice / runner-up", "ms", "default", "speed-up");
  for (const auto &r : results) {
    std::vector<std::pair<double, std::string>> ranked;
    for (const auto &[label, t] : r.tallies)
      if (!t.abandoned && t.samples > 0)
        ranked.push_back({t.totalMs / t.samples, label});
    std::sort(ranked.begin(), ranked.end());
    const Tally &d = r.tallies.at(r.defaultLabel);
    double defaultMs = d.samples ? d.totalMs / d.samples : 0;
    ConfigEntry entry;
    entry.key = r.key;
    const Candidate &chosen = r.byLabel.at(ranked.front().second);
    entry.choice = {chosen.kernel->name, chosen.splits};
    entry.timeMs = ranked.front().first;
    if (ranked.size() > 1) {
      entry.runnerUp = ranked[1].second;
      entry.runnerUpMs = ranked[1].first;
    }
    entry.defaultMs = defaultMs;
    entry.layers = r.layers;
    table.entries.push_back(entry);
    std::string layers = fmt::format("{}{} (2^{}, {} nb)", r.layers.front(),
                                     r.layers.size() > 1 ? fmt::format(" +{}", r.layers.size() - 1) : "",
                                     r.key.outputsLog2, r.key.neighbours);
    fmt::print("{:<34} {:<62} {:>9.4f} {:>9.4f} {:>7.2f}x\n", layers, ranked.front().second, entry.timeMs, defaultMs,
               defaultMs / entry.timeMs);
    if (ranked.size() > 1)
      fmt::print("{:<34}   {:<60} {:>9.4f}\n", "", ranked[1].second, ranked[1].first);
  }
  table.save(o.out);
  fmt::print("wrote {} ({} entries)\n", o.out, table.entries.size());
  return 0;
}

// Forward time of the whole network (every layer, in order) with the table's choices and with the
// heuristic's, on each input.
int evaluate(const Options &o, const Workload &workload, Context &context, const Bundle &bundle) {
  ConfigTable table = ConfigTable::load(o.evaluate);
  table.requireMatch(context.device().name, context.device().sm, sparsekgen_kernels.bundle_hash, o.allowMismatch);
  for (const auto &warning : table.warnings)
    fmt::print(stderr, "warning: {}\n", warning);
  auto groups = workload.layerGroups();
  nlohmann::json runs = nlohmann::json::array();
  fmt::print("{:<24} {:>12} {:>12} {:>9}  {}\n", "input", "tuned ms", "default ms", "speed-up", "entries used");
  for (const auto &input : workload.inputs) {
    auto maps = buildWorkloadMaps(workload, input, o.data);
    double tunedMs = 0, defaultMs = 0;
    std::map<std::string, int> sources;
    nlohmann::json layers = nlohmann::json::array();
    for (const auto &group : groups) {
      auto [problem, key] = makeGroupProblem(workload, group, maps.at(group.map));
      auto gpu = uploadConvProblem(problem);
      Dispatch tuned = table.dispatch(key, bundle.descriptions);
      Dispatch fallback = heuristicChoice(key, bundle.descriptions);
      Candidate t{&bundle.record(tuned.choice.kernel), tuned.choice.splits};
      Candidate d{&bundle.record(fallback.choice.kernel), 1};
      auto reference = referenceFrom(context, gpu, d);
      auto check = runAndCheck(context, *t.kernel, gpu, reference, t.splits);
      if (check.unwrittenRows != 0 || !(check.relativeError <= o.tolerance))
        throw RuntimeError(fmt::format("layer {}: tuned choice {} disagrees with the default (relative error {:.2e})",
                                       group.layers.front(), t.label(), check.relativeError));
      double tMs = time(context, gpu, t, 5, o.iterations), dMs = time(context, gpu, d, 5, o.iterations);
      int count = static_cast<int>(group.layers.size());
      tunedMs += tMs * count;
      defaultMs += dMs * count;
      const char *source = tuned.source == Dispatch::Source::Exact     ? "exact"
                           : tuned.source == Dispatch::Source::Nearest ? "nearest"
                                                                       : "heuristic";
      sources[source] += count;
      layers.push_back({{"layers", group.layers},
                        {"outputs", problem.map.outputCount()},
                        {"tuned_kernel", t.label()},
                        {"dispatch", source},
                        {"tuned_ms", tMs},
                        {"default_kernel", d.label()},
                        {"default_ms", dMs}});
    }
    fmt::print("{:<24} {:>12.3f} {:>12.3f} {:>8.2f}x  {}\n", input.label(), tunedMs, defaultMs, defaultMs / tunedMs,
               fmt::join(sources, ", "));
    runs.push_back({{"input", input.label()},
                    {"tuned_forward_ms", tunedMs},
                    {"default_forward_ms", defaultMs},
                    {"speedup", defaultMs / tunedMs},
                    {"layer_groups", layers}});
  }
  nlohmann::json report = bench::reportHeader("tuned_vs_default_forward", context);
  report["workload"] = workload.name;
  report["table"] = o.evaluate;
  report["tuned_on"] = table.tunedOn;
  report["bundle_hash"] = sparsekgen_kernels.bundle_hash;
  report["method"] = fmt::format("sum over the network's layers of CUDA-event medians ({} runs after 5 warm-up) of "
                                 "each layer's kernel; random data on the real maps; the tuned choice is checked "
                                 "against the default's output first",
                                 o.iterations);
  report["runs"] = runs;
  bench::writeReport(report, o.report);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  CLI::App app{"sparsekgen-tune: tune the linked bundle's kernels per layer of a workload on this GPU and write a "
               "config table,\nor evaluate a table's choices against the heuristic default (--evaluate)."};
  app.add_option("--workload", o.workload, "workload JSON (schemas/workload.schema.json)")->required()->check(CLI::ExistingFile);
  app.add_option("--data", o.data, "data directory holding scans/ and voxels/")->required()->check(CLI::ExistingDirectory);
  app.add_option("--inputs", o.inputs, "input files to use instead of the workload's (scans/*.bin or voxels/*.i32 names)");
  app.add_option("--out", o.out, "config table to write (tuning)");
  app.add_option("--evaluate", o.evaluate, "config table to evaluate instead of tuning")->check(CLI::ExistingFile);
  app.add_option("--report", o.report, "JSON report of the evaluation");
  app.add_option("--abandon-ratio", o.abandonRatio, "abandon a candidate whose probe is this much slower than the best")
      ->capture_default_str();
  app.add_option("--iterations", o.iterations, "timed runs per candidate (median)")->capture_default_str();
  app.add_flag("--allow-mismatch", o.allowMismatch, "use a table tuned on another GPU or bundle, with a warning");
  CLI11_PARSE(app, argc, argv);
  try {
    Workload workload = loadWorkload(o.workload);
    if (!o.inputs.empty()) {
      WorkloadInput model = workload.inputs.front();
      workload.inputs.clear();
      for (const auto &name : o.inputs) {
        WorkloadInput input = model;
        bool coordinates = name.size() > 4 && name.substr(name.size() - 4) == ".i32";
        input.scan = coordinates ? "" : name;
        input.coordinates = coordinates ? name : "";
        workload.inputs.push_back(input);
      }
    }
    if (o.evaluate.empty() && o.out.empty())
      throw RuntimeError("give --out TABLE to tune, or --evaluate TABLE");
    Context context(0, sparsekgen_kernels);
    Bundle bundle;
    for (const auto *record : context.kernels()) {
      bundle.records.push_back(record);
      bundle.descriptions.push_back(describeKernel(record->name, nlohmann::json::parse(record->spec_json)));
    }
    return o.evaluate.empty() ? tune(o, workload, context, bundle) : evaluate(o, workload, context, bundle);
  } catch (const std::exception &error) {
    fmt::print(stderr, "\nsparsekgen-tune: error: {}\n", error.what());
    return 1;
  }
}
