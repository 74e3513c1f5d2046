// sparsekgen-tune: times every legal candidate (kernel x splits) of every layer group of a workload
// on the GPU and writes a config table; with --training, the input- and weight-gradient kernels of
// each group as well, each operation chosen separately (table keys carry the operation); with
// --evaluate, times a network's forward pass with a table's choices against the heuristic default
// on other inputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "ApplicationBundles.h"
#include "sparsekgen/tools/CommandLine.h"
#include "sparsekgen/BackwardVerification.h"
#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/OutputFiles.h"
#include "sparsekgen/Network.h"
#include "sparsekgen/RunReport.h"
#include "sparsekgen/Verification.h"
#include "sparsekgen/Workload.h"
#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/GpuKernelMaps.h"
#include "sparsekgen/LaunchArguments.h"

namespace {

using namespace sparsekgen;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string workload, network, data, out, evaluate, report;
  std::vector<std::string> inputs;
  double abandonRatio = 1.5, tolerance = 2e-2;
  int iterations = 31;
  bool allowMismatch = false, training = false, unfused = false, allowTf32 = false, allDevices = false;
  bool withoutHopperKernels = false, countSortInputs = false;
  std::vector<int> devices = {0}; // one tuning worker per entry (CUDA device ordinals)
};

struct Candidate {
  const skg_kernel_record *kernel;
  int splits;
  std::string label() const { return splits > 1 ? fmt::format("{} x{} splits", kernel->name, splits) : kernel->name; }
};

// The group's key for `operation` over a map with `outputs` rows and `pairs` pairs (zeros where
// only the layer's shape matters).
LayerKey groupKey(const Workload &workload, const LayerGroup &group, long long outputs, long long pairs,
                  skg_operation operation = SKG_FORWARD) {
  const WorkloadMap &map = workload.findMap(group.map);
  return operationKey(layerKey(group.inChannels, group.outChannels, map.geometry.volume(), map.transposed(),
                               workload.dtype, group.epilogue, outputs, pairs),
                      std::string(operationSpellings()[operation]));
}

// The split counts the tuner tries for a dataflow: its tuned range, in steps of one for a short
// range and in powers of two for a long one (the weight gradient's chunks per offset).
std::vector<int> tunedSplits(const DataflowInfo &info, int kernelVolume) {
  const int last =
      info.rows == RowSource::PairsAlongK ? info.tunedSplitsLast : std::min(info.tunedSplitsLast, kernelVolume);
  std::vector<int> splits;
  if (info.rows == RowSource::PairsAlongK)
    splits.push_back(0); // the runtime's own choice (weightGradSplits), the default's
  const bool doubling = info.tunedSplitsLast - info.tunedSplitsFirst > 4;
  for (int s = info.tunedSplitsFirst; s <= last; s = doubling ? s * 2 : s + 1)
    splits.push_back(s);
  return splits;
}

// Kernels that fit the layer, each with the split counts the tuner tries for its dataflow (the
// dataflow table's tuned range, up to the map's offsets). Tables hold 32-bit kernels only: 64-bit
// ones serve just the layers 32-bit arithmetic cannot reach, as twins of the tuned choice. tf32
// kernels compete for f32 layers only when asked (--allow-tf32).
std::vector<Candidate> candidatesFor(const Context &context, const std::vector<KernelDescription> &descriptions,
                                     const LayerKey &key, bool allowTf32) {
  std::vector<Candidate> candidates;
  auto records = context.kernels();
  for (size_t i = 0; i < records.size(); ++i) {
    if (!kernelFits(descriptions[i], key) || descriptions[i].indexBits != key.indexBits ||
        (!allowTf32 && !heuristicMayChoose(descriptions[i])))
      continue;
    const DataflowInfo &info = dataflowInfo(records[i]->dataflow);
    for (int splits : tunedSplits(info, key.kernelVolume))
      candidates.push_back({records[i], splits});
  }
  return candidates;
}

// One problem per (input, layer group): random data in the default kernel's types and epilogue
// (every candidate shares them) on the group's map, and the key with the map's statistics.
// One operation of a group on one input: random data in the default kernel's types (every candidate
// shares them), the key with the map's statistics, and the calls that check and time a candidate
// against the default's result (the default itself is checked against float64 by the GPU tests).
class GroupProblem {
public:
  GroupProblem(const Workload &workload, const LayerGroup &group, const KernelMap &map, skg_operation operation,
               Context &context, const std::vector<KernelDescription> &descriptions)
      : key(groupKey(workload, group, map.outputCount(), map.pairCount(), operation)),
        fallback{&context.findKernel(heuristicChoice(key, descriptions).choice.kernel), 1}, map_(map),
        context_(context) {
    if (operation == SKG_FORWARD) {
      forward_ = makeConvProblem(map, group.inChannels, group.outChannels, 11, convTypesOf(*fallback.kernel));
      forwardDevice_ = uploadConvProblem(forward_);
      auto values = runForOutput(context, *fallback.kernel, forwardDevice_, fallback.splits);
      reference_.assign(values.begin(), values.end());
    } else {
      backward_ = makeConvBackwardProblem(map, group.inChannels, group.outChannels, 11, fallback.kernel->operand_type);
      backwardDevice_ = uploadConvBackwardProblem(backward_);
      fallback.splits = 0; // the runtime's own split choice for the default
      auto values = runBackwardForOutput(context, *fallback.kernel, backwardDevice_, fallback.splits);
      reference_.assign(values.begin(), values.end());
    }
  }

  ConvCheck check(const Candidate &c) {
    if (c.kernel->operation == SKG_FORWARD)
      return runAndCheck(context_, *c.kernel, forwardDevice_, reference_, c.splits);
    return runBackwardAndCheck(context_, *c.kernel, backwardDevice_, reference_, c.splits);
  }

  double time(const Candidate &c, int warmup, int iterations) {
    if (c.kernel->operation == SKG_FORWARD) {
      auto args = argumentsFor(forwardDevice_, *c.kernel, c.splits);
      return medianMilliseconds([&] { convForward(context_, *c.kernel, args); }, warmup, iterations);
    }
    const bool inputGrad = c.kernel->operation == SKG_INPUT_GRAD;
    ConvBackwardArguments args = backwardArgumentsFor(backwardDevice_, *c.kernel, c.splits > 0 ? c.splits : 3);
    args.weightGradSplits = inputGrad ? 0 : c.splits;
    return medianMilliseconds(
        [&] { convBackward(context_, inputGrad ? c.kernel : nullptr, inputGrad ? nullptr : c.kernel, args); }, warmup,
        iterations);
  }

  // The GPU time of building the sort inputs (permutation and tile masks) a forward candidate
  // reads, as the executor builds them per run; 0 for kernels that read none. Timed once per
  // (split count, tile height) of the map.
  double sortInputsMs(const Candidate &c) {
    if (c.kernel->operation != SKG_FORWARD)
      return 0;
    const DataflowInfo &info = dataflowInfo(c.kernel->dataflow);
    if (info.extras != MapExtras::SortInputs)
      return 0;
    const MapExtrasRequest request{.splits = info.splitsFor(c.splits, map_.volume),
                                   .tileRows = static_cast<int>(mainFunction(*c.kernel).rows_per_block)};
    auto [it, added] = sortInputsMs_.try_emplace({request.splits, request.tileRows}, 0.0);
    if (added) {
      if (!deviceMap_.outputs) {
        deviceMap_.outputs = SparseCoordinates::fromHost(map_.outputs);
        deviceMap_.volume = map_.volume;
        deviceMap_.outInMap = DeviceBuffer::from(map_.outInMap);
      }
      it->second = medianMilliseconds([&] { kernelMapExtrasGpu(deviceMap_, request); }, 2, 9);
    }
    return it->second;
  }

  LayerKey key;
  Candidate fallback; // the heuristic's choice, the reference of the candidates

private:
  const KernelMap &map_;
  DeviceKernelMap deviceMap_; // uploaded on first need
  std::map<std::pair<int, int>, double> sortInputsMs_;
  Context &context_;
  ConvProblem forward_;
  DeviceConvProblem forwardDevice_;
  ConvBackwardProblem backward_;
  DeviceConvBackwardProblem backwardDevice_;
  std::vector<double> reference_;
};

// On a terminal a bar redrawn in place; in a log (stderr not a terminal) a plain line every tenth of
// the way, so logs stay readable.
class ProgressBar {
public:
  explicit ProgressBar(long total) : total_(total), start_(Clock::now()), terminal_(isatty(fileno(stderr)) != 0) {}
  void step(const std::string &what) {
    ++done_;
    double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    double left = done_ ? elapsed / done_ * (total_ - done_) : 0;
    if (!terminal_) {
      if (done_ * 10 / std::max(1L, total_) != (done_ - 1) * 10 / std::max(1L, total_) || done_ == total_)
        fmt::print(stderr, "{:>5}/{} candidates, {:.0f} s elapsed, ~{:.0f} s left (at {})\n", done_, total_, elapsed,
                   left, what);
      return;
    }
    int filled = static_cast<int>(30.0 * done_ / std::max(1L, total_));
    fmt::print(stderr, "\r[{:=<{}}{: <{}}] {:>5}/{} candidates  {:>4.0f} s elapsed, ~{:>4.0f} s left  {:<40.40}", "",
               filled, "", 30 - filled, done_, total_, elapsed, left, what);
    if (done_ == total_)
      fmt::print(stderr, "\n");
  }

private:
  long total_, done_ = 0;
  Clock::time_point start_;
  bool terminal_;
};

// A candidate's times on the inputs whose group fell on one key.
struct Measured {
  Candidate candidate;
  double totalMs = 0;
  int samples = 0;
  bool abandoned = false;
};

// Per table key: each candidate's times over the inputs whose group falls on that key, and where
// the key was first met (input, group, operation), which orders the table as one worker would.
struct KeyResult {
  LayerKey key;
  std::string defaultLabel;
  std::vector<std::string> layers;
  std::map<std::string, Measured> candidates; // by label
  std::tuple<size_t, size_t, size_t> firstSeen;
};

// Adds the layer names not yet among the key's.
void addLayers(KeyResult &result, const std::vector<std::string> &names) {
  for (const auto &name : names)
    if (std::find(result.layers.begin(), result.layers.end(), name) == result.layers.end())
      result.layers.push_back(name);
}

// Adds `from` into `into`: the same key met by groups of several workers.
void mergeKeyResult(KeyResult &into, const KeyResult &from) {
  addLayers(into, from.layers);
  for (const auto &[label, m] : from.candidates) {
    auto [it, added] = into.candidates.try_emplace(label, m);
    if (added)
      continue;
    it->second.totalMs += m.totalMs;
    it->second.samples += m.samples;
    it->second.abandoned = it->second.abandoned || m.abandoned;
  }
  if (from.firstSeen < into.firstSeen) {
    into.firstSeen = from.firstSeen;
    into.defaultLabel = from.defaultLabel;
  }
}

// The (group, operation) pairs each of `workers` workers tunes: the longest first, each to the
// worker with the fewest candidate timings so far.
std::vector<std::vector<std::pair<size_t, size_t>>> assignWork(const std::vector<std::vector<size_t>> &timings,
                                                               size_t workers) {
  std::vector<std::tuple<size_t, size_t, size_t>> items; // (timings, group, operation)
  for (size_t g = 0; g < timings.size(); ++g)
    for (size_t op = 0; op < timings[g].size(); ++op)
      items.emplace_back(timings[g][op], g, op);
  std::stable_sort(items.begin(), items.end(), [](const auto &a, const auto &b) { return std::get<0>(a) > std::get<0>(b); });
  std::vector<std::vector<std::pair<size_t, size_t>>> work(workers);
  std::vector<size_t> load(workers, 0);
  for (const auto &[count, g, op] : items) {
    size_t w = std::min_element(load.begin(), load.end()) - load.begin();
    work[w].emplace_back(g, op);
    load[w] += count;
  }
  for (auto &items : work)
    std::sort(items.begin(), items.end());
  return work;
}

// The hash a table records (Context::bundleHash's form): the context's first bundle and each other
// whose kernels its entries name. A table tuned where the Hopper kernels cannot run (or never win)
// then stays a default-bundle table, which builds without the Hopper bundle accept.
std::string bundlesNamed(const Context &context, const std::vector<ConfigEntry> &entries) {
  std::vector<std::string> hashes;
  for (const skg_bundle *bundle : context.bundles()) {
    bool named = hashes.empty();
    for (uint32_t i = 0; i < bundle->kernel_count && !named; ++i)
      named = std::any_of(entries.begin(), entries.end(),
                          [&](const ConfigEntry &e) { return e.choice.kernel == bundle->kernels[i].name; });
    if (named)
      hashes.push_back(bundle->bundle_hash);
  }
  return joinBundleHashes(hashes);
}

int tune(const Options &o, const Workload &workload, Context &context,
         const std::vector<KernelDescription> &descriptions) {
  auto groups = workload.layerGroups();
  std::vector<skg_operation> operations = {SKG_FORWARD};
  if (o.training)
    operations = {SKG_FORWARD, SKG_INPUT_GRAD, SKG_WEIGHT_GRAD};
  // candidates[g][op]: group g's candidates for operations[op].
  std::vector<std::vector<std::vector<Candidate>>> candidates;
  std::vector<std::vector<size_t>> timings;
  long total = 0;
  for (const auto &g : groups) {
    candidates.emplace_back();
    timings.emplace_back();
    for (skg_operation operation : operations) {
      candidates.back().push_back(candidatesFor(context, descriptions, groupKey(workload, g, 0, 0, operation), o.allowTf32));
      if (candidates.back().back().empty())
        throw RuntimeError(fmt::format("layer {}: no {} kernel of the bundle fits (Cin {}, Cout {}, {}, epilogue [{}])",
                                       g.layers.front(), operationSpellings()[operation], g.inChannels, g.outChannels,
                                       workload.dtype, fmt::join(g.epilogue, ", ")));
      timings.back().push_back(candidates.back().back().size() * workload.inputs.size());
      total += static_cast<long>(timings.back().back());
    }
  }
  const std::vector<int> &devices = o.devices;
  fmt::print("tuning {}{}: {} layers in {} groups, {} inputs, {} candidate timings on {}{}\n", workload.name,
             o.training ? " for training (forward, input and weight gradients)" : "", workload.layers.size(),
             groups.size(), workload.inputs.size(), total, context.device().name,
             devices.size() > 1 ? fmt::format(" ({} workers, devices {})", devices.size(), fmt::join(devices, ", ")) : "");
  // With --count-sort-inputs, a sorted or split candidate carries its map's sort inputs shared among
  // the layers on that map (the executor builds them once per map, split count and tile height).
  const std::map<std::string, int> layersOnMap = [&] {
    std::map<std::string, int> counts;
    for (const auto &layer : workload.layers)
      ++counts[layer.map];
    return counts;
  }();
  std::vector<std::map<std::string, KernelMap>> maps;
  for (const auto &input : workload.inputs)
    maps.push_back(buildWorkloadMaps(workload, input, o.data));

  // One worker per device, each with its own context (the primary context of its device), tuning
  // its share of the (group, operation) pairs on every input.
  const auto work = assignWork(timings, devices.size());
  std::vector<std::vector<KeyResult>> workerResults(devices.size());
  std::vector<std::exception_ptr> failures(devices.size());
  std::mutex progressMutex;
  ProgressBar progress(total);
  auto runWorker = [&](size_t w) {
    try {
      Context own(devices[w], context.bundles());
      std::vector<KeyResult> &results = workerResults[w];
      for (size_t i = 0; i < workload.inputs.size(); ++i)
        for (const auto &[g, op] : work[w]) {
          const LayerGroup &group = groups[g];
          GroupProblem problem(workload, group, maps[i].at(group.map), operations[op], own, descriptions);
          const LayerKey &key = problem.key;
          const Candidate &fallback = problem.fallback;
          auto it = std::find_if(results.begin(), results.end(), [&](const KeyResult &r) { return r.key == key; });
          if (it == results.end())
            it = results.insert(results.end(), {key, fallback.label(), {}, {}, {i, g, op}});
          addLayers(*it, group.layers);
          double best = std::numeric_limits<double>::infinity();
          for (const auto &c : candidates[g][op]) {
            {
              std::lock_guard lock(progressMutex);
              progress.step(group.layers.front() + " " + c.kernel->name);
            }
            std::string label = c.label();
            Measured &measured = it->candidates.try_emplace(label, Measured{c}).first->second;
            auto check = problem.check(c);
            if (check.unwrittenRows != 0 || !(check.relativeError <= o.tolerance))
              // A wrong result is a failure of the kernels (exit 1), not bad input.
              throw std::runtime_error(fmt::format("layer {}: {} disagrees with the default {} (relative error "
                                                   "{:.2e}, {} unwritten rows)",
                                                   group.layers.front(), label, fallback.label(), check.relativeError,
                                                   check.unwrittenRows));
            const double sortInputs =
                o.countSortInputs ? problem.sortInputsMs(c) / std::max(1, layersOnMap.at(group.map)) : 0;
            // A short probe first: candidates far slower than the best so far are abandoned.
            double probe = problem.time(c, 2, 5) + sortInputs;
            if (probe > o.abandonRatio * best && label != it->defaultLabel) {
              measured.abandoned = true;
              continue;
            }
            double ms = problem.time(c, 3, o.iterations) + sortInputs;
            best = std::min(best, ms);
            measured.totalMs += ms;
            ++measured.samples;
          }
        }
    } catch (...) {
      failures[w] = std::current_exception();
    }
  };
  if (devices.size() == 1) {
    runWorker(0);
  } else {
    std::vector<std::thread> threads;
    for (size_t w = 0; w < devices.size(); ++w)
      threads.emplace_back(runWorker, w);
    for (auto &thread : threads)
      thread.join();
  }
  for (const auto &failure : failures)
    if (failure)
      std::rethrow_exception(failure);
  checkCuda(cuCtxSetCurrent(context.handle()), "cuCtxSetCurrent", "(after the tuning workers)");
  std::vector<KeyResult> results;
  for (auto &partial : workerResults)
    for (auto &r : partial) {
      auto it = std::find_if(results.begin(), results.end(), [&](const KeyResult &m) { return m.key == r.key; });
      if (it == results.end())
        results.push_back(std::move(r));
      else
        mergeKeyResult(*it, r);
    }
  std::sort(results.begin(), results.end(),
            [](const KeyResult &a, const KeyResult &b) { return a.firstSeen < b.firstSeen; });
  ConfigTable table;
  table.gpuName = context.device().name;
  table.gpuSm = context.device().sm;
  table.cudaDriverVersion = context.device().driverVersion;
  table.date = reports::todayUtc();
  table.workload = workload.name;
  for (const auto &input : workload.inputs)
    table.tunedOn.push_back(input.label());
  fmt::print("\n{:<34} {:<62} {:>9} {:>9} {:>8}\n", "layers (key)", "choice / runner-up", "ms", "default", "speed-up");
  for (const auto &r : results) {
    std::vector<std::pair<double, std::string>> ranked; // (mean ms, label)
    for (const auto &[label, m] : r.candidates)
      if (!m.abandoned && m.samples > 0)
        ranked.push_back({m.totalMs / m.samples, label});
    std::sort(ranked.begin(), ranked.end());
    const Measured &d = r.candidates.at(r.defaultLabel);
    double defaultMs = d.samples ? d.totalMs / d.samples : 0;
    ConfigEntry entry;
    entry.key = r.key;
    const Candidate &chosen = r.candidates.at(ranked.front().second).candidate;
    entry.choice = {chosen.kernel->name, chosen.splits};
    entry.timeMs = ranked.front().first;
    if (ranked.size() > 1) {
      entry.runnerUp = ranked[1].second;
      entry.runnerUpMs = ranked[1].first;
    }
    entry.defaultMs = defaultMs;
    entry.layers = r.layers;
    table.entries.push_back(entry);
    std::string layers = fmt::format(
        "{}{}{} (2^{}, {} nb)", r.key.operation == "forward" ? "" : r.key.operation + " ", r.layers.front(),
        r.layers.size() > 1 ? fmt::format(" +{}", r.layers.size() - 1) : "", r.key.outputsLog2, r.key.neighbours);
    fmt::print("{:<34} {:<62} {:>9.4f} {:>9.4f} {:>7.2f}x\n", layers, chosen.label(), entry.timeMs, defaultMs,
               defaultMs / entry.timeMs);
    if (ranked.size() > 1)
      fmt::print("{:<34}   {:<60} {:>9.4f}\n", "", entry.runnerUp, entry.runnerUpMs);
  }
  table.bundleHash = bundlesNamed(context, table.entries);
  table.save(o.out);
  fmt::print("wrote {} ({} entries)\n", o.out, table.entries.size());
  return 0;
}

// Forward time of the whole network (every layer, in order) with the table's choices and with the
// heuristic's, on each input.
int evaluate(const Options &o, const Workload &workload, Context &context,
             const std::vector<KernelDescription> &descriptions) {
  ConfigTable table = ConfigTable::load(o.evaluate);
  table.requireMatch(context.device().name, context.device().sm, context.bundleHash(), o.allowMismatch);
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
      const KernelMap &map = maps.at(group.map);
      GroupProblem problem(workload, group, map, SKG_FORWARD, context, descriptions);
      const Candidate &d = problem.fallback;
      Dispatch tuned = table.dispatch(problem.key, descriptions);
      Candidate t{&context.findKernel(tuned.choice.kernel), tuned.choice.splits};
      auto check = problem.check(t);
      if (check.unwrittenRows != 0 || !(check.relativeError <= o.tolerance))
        throw std::runtime_error(fmt::format("layer {}: tuned choice {} disagrees with the default (relative error {:.2e})",
                                       group.layers.front(), t.label(), check.relativeError));
      double tMs = problem.time(t, 5, o.iterations), dMs = problem.time(d, 5, o.iterations);
      int count = static_cast<int>(group.layers.size());
      tunedMs += tMs * count;
      defaultMs += dMs * count;
      const char *source = tuned.source == Dispatch::Source::Exact     ? "exact"
                           : tuned.source == Dispatch::Source::Nearest ? "nearest"
                                                                       : "heuristic";
      sources[source] += count;
      layers.push_back({{"layers", group.layers},
                        {"outputs", map.outputCount()},
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
  nlohmann::json report = reports::reportHeader("tuned_vs_default_forward", context);
  report["workload"] = workload.name;
  report["table"] = o.evaluate;
  report["tuned_on"] = table.tunedOn;
  report["bundle_hash"] = context.bundleHash();
  report["method"] = fmt::format("sum over the network's layers of CUDA-event medians ({} runs after 5 warm-up) of "
                                 "each layer's kernel; random data on the real maps; the tuned choice is checked "
                                 "against the default's output first",
                                 o.iterations);
  report["runs"] = runs;
  reports::writeReport(report, o.report);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  CLI::App app{"sparsekgen-tune: tune the linked bundles' kernels per layer of a workload on this GPU and write a "
               "config table,\nor evaluate a table's choices against the heuristic default (--evaluate)."};
  tools::applyConventions(app, "sparsekgen-tune");
  auto *workloadOption = app.add_option("--workload", o.workload, "workload JSON (schemas/workload.schema.json)")
                             ->check(CLI::ExistingFile);
  auto *networkOption = app.add_option("--network", o.network,
                                       "network description (schemas/network.schema.json): tunes the convolutions "
                                       "of its fusion plan")
                            ->check(CLI::ExistingFile);
  workloadOption->excludes(networkOption);
  app.add_option("--data", o.data, "data directory holding scans/ and voxels/")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--inputs", o.inputs,
                 "input files to use instead of the workload's (scans/*.bin or voxels/*.i32 names)");
  app.add_option("--out", o.out, "config table to write (tuning)");
  app.add_option("--evaluate", o.evaluate, "config table to evaluate instead of tuning")->check(CLI::ExistingFile);
  app.add_option("--report", o.report, "JSON report of the evaluation");
  app.add_option("--abandon-ratio", o.abandonRatio, "abandon a candidate whose probe is this much slower than the best")
      ->capture_default_str();
  app.add_option("--iterations", o.iterations, "timed runs per candidate (median)")->capture_default_str();
  app.add_flag("--allow-mismatch", o.allowMismatch, "use a table tuned on another GPU or bundle, with a warning");
  app.add_flag("--training", o.training,
               "also tune each group's input-gradient and weight-gradient kernels (each operation separately)");
  app.add_option("--devices", o.devices,
                 "CUDA devices to tune on, one worker each, e.g. 0,1,2,3 (all must be the same GPU model); the "
                 "layer groups are spread over them and the results merged into one table")
      ->delimiter(',')
      ->check(CLI::Range(0, 1023))
      ->capture_default_str();
  app.add_flag("--all-devices", o.allDevices, "tune on every CUDA device of the machine (as --devices 0,...,N-1)");
  app.add_flag("--allow-tf32", o.allowTf32,
               "let tf32 kernels (f32 operands rounded to 10 mantissa bits) compete for f32 layers; without it f32 "
               "layers get exact fp32 kernels");
  app.add_flag("--without-hopper-kernels", o.withoutHopperKernels,
               hopperBundleLinked() ? "tune the default bundle's kernels only, leaving out the Hopper bundle's "
                                      "warpgroup-MMA kernels (which run on sm_90 GPUs only)"
                                    : "(this build has no Hopper bundle: the default bundle's kernels are all it tunes)");
  app.add_flag("--count-sort-inputs", o.countSortInputs,
               "add to each sorted or split candidate the GPU time of building its sort inputs, divided among the "
               "layers on its map (the executor builds them per run, once per map, split count and tile height); "
               "table times then include that share");
  app.add_flag("--unfused", o.unfused,
               "tune each convolution without the ops the executor fuses after it, as the trainer and the Python "
               "package run them (table keys with an empty epilogue)");
  if (int status = tools::parseCommandLine(app, argc, argv); status >= 0)
    return status;
  return tools::runReportingErrors("sparsekgen-tune", [&]() -> int {
    if (o.workload.empty() && o.network.empty())
      throw RuntimeError("give --workload FILE or --network FILE");
    Workload workload = o.network.empty() ? loadWorkload(o.workload) : loadNetwork(o.network).workload();
    if (o.unfused)
      for (auto &layer : workload.layers)
        layer.epilogue.clear();
    if (workload.inputs.empty()) // a network description for deployment may omit them
      throw RuntimeError(fmt::format("network {}: lists no 'inputs' (scans with their columns and voxel size, or "
                                     "coordinate files) to tune on",
                                     o.network));
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
    if (!o.out.empty())
      requireReplaceableFile(o.out); // before minutes of tuning, not after
    if (o.allDevices) {
      std::string why;
      const int count = Context::deviceCount(&why);
      if (count == 0)
        throw CudaError(CUDA_ERROR_NO_DEVICE, "--all-devices: no CUDA device: " + why);
      o.devices.clear();
      for (int d = 0; d < count; ++d)
        o.devices.push_back(d);
    }
    if (o.devices.empty())
      throw RuntimeError("--devices: give at least one CUDA device");
    Context context(o.devices.front(), applicationBundles(!o.withoutHopperKernels));
    fmt::print("kernels: {}\n", describeBundles(context.bundles()));
    for (int d : o.devices) {
      Context other(d, context.bundles());
      if (other.device().name != context.device().name || other.device().sm != context.device().sm)
        throw RuntimeError(fmt::format("--devices: device {} is {} (sm_{}), device {} is {} (sm_{}); a config table "
                                       "is for one GPU model, so tune each model separately",
                                       o.devices.front(), context.device().name, context.device().sm, d,
                                       other.device().name, other.device().sm));
    }
    checkCuda(cuCtxSetCurrent(context.handle()), "cuCtxSetCurrent", "(after checking --devices)");
    if (auto excluded = context.kernelsThatCannotRun(); !excluded.empty())
      fmt::print(stderr, "note: {} of the {} linked kernels cannot run on {} and are not tuned (first: {}: {})\n",
                 excluded.size(), excluded.size() + context.kernels().size(), context.device().name,
                 excluded.front().first->name, excluded.front().second);
    auto descriptions = describeKernels(context.kernels());
    return o.evaluate.empty() ? tune(o, workload, context, descriptions) : evaluate(o, workload, context, descriptions);
  });
}
