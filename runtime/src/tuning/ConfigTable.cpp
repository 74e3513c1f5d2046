#include "sparsekgen/ConfigTable.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "tuning/JsonReader.h"
#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/SchemaValidation.h"
#include "sparsekgen/OutputFiles.h"

namespace sparsekgen {

using nlohmann::json;

bool LayerKey::sameShape(const LayerKey &o) const {
  return inChannels == o.inChannels && outChannels == o.outChannels && kernelVolume == o.kernelVolume &&
         transposed == o.transposed && dtype == o.dtype && epilogue == o.epilogue && operation == o.operation &&
         indexBits == o.indexBits;
}

LayerKey layerKey(int inChannels, int outChannels, int kernelVolume, bool transposed, const std::string &dtype,
                  const std::vector<std::string> &epilogue, long long outputs, long long pairs) {
  LayerKey key{inChannels, outChannels, kernelVolume, transposed, dtype, epilogue, 0, 0};
  key.outputsLog2 = outputs > 0 ? static_cast<int>(std::floor(std::log2(static_cast<double>(outputs)))) : 0;
  key.neighbours = outputs > 0 ? static_cast<int>(std::lround(static_cast<double>(pairs) / outputs)) : 0;
  return key;
}

LayerKey operationKey(LayerKey forward, const std::string &operation) {
  if (operation != "forward")
    forward.epilogue.clear();
  forward.operation = operation;
  return forward;
}

KernelDescription describeKernel(const std::string &name, const json &spec, const std::string &document,
                                 const std::string &pointer) {
  const JsonReader r(fmt::format("{} (kernel {})", document, name));
  KernelDescription d;
  d.name = name;
  d.dataflow = r.get<std::string>(spec, pointer, "dataflow");
  d.operation = r.get<std::string>(spec, pointer, "operation", std::string("forward"));
  const json &dtypes = r.field(spec, pointer, "dtypes");
  d.operand = r.get<std::string>(dtypes, pointer + "/dtypes", "input");
  d.output = r.get<std::string>(dtypes, pointer + "/dtypes", "output");
  d.math = r.get<std::string>(spec, pointer, "math", std::string("tensor_core"));
  // The alignment divides channel counts (kernelFits): 0 would divide by zero.
  d.alignment = r.get<int>(spec, pointer, "channel_alignment", 8);
  if (d.alignment < 1 || d.alignment > 128 || (d.alignment & (d.alignment - 1)) != 0)
    r.fail(pointer + "/channel_alignment", fmt::format("{} is not a power of two in [1, 128]", d.alignment));
  const json &cta = r.field(r.field(spec, pointer, "tile"), pointer + "/tile", "cta");
  if (!cta.is_array() || cta.size() < 2)
    r.fail(pointer + "/tile/cta", "expected an array [M, N, K]");
  for (int axis = 0; axis < 2; ++axis) {
    const int extent = cta[axis].is_number_integer() ? cta[axis].get<int>() : 0;
    if (extent < 1)
      r.fail(fmt::format("{}/tile/cta/{}", pointer, axis), "expected a positive integer");
    (axis == 0 ? d.tileM : d.tileN) = extent;
  }
  d.indexBits = r.get<int>(spec, pointer, "index_bits", 32);
  if (d.indexBits != 32 && d.indexBits != 64)
    r.fail(pointer + "/index_bits", fmt::format("{} is neither 32 nor 64", d.indexBits));
  d.pairWeights = r.get<bool>(spec, pointer, "pair_weights", false);
  d.stages = r.get<int>(spec, pointer, "stages");
  if (d.stages < 1)
    r.fail(pointer + "/stages", fmt::format("{} is below 1", d.stages));
  if (spec.contains("epilogue"))
    d.epilogue = r.get<std::vector<std::string>>(r.field(spec, pointer, "epilogue"), pointer + "/epilogue", "ops",
                                                 std::vector<std::string>{});
  return d;
}

std::vector<KernelDescription> describeKernels(const std::vector<const skg_kernel_record *> &records) {
  std::vector<KernelDescription> descriptions;
  for (const auto *record : records)
    descriptions.push_back(describeKernel(record->name, json::parse(record->spec_json)));
  return descriptions;
}

bool kernelFits(const KernelDescription &k, const LayerKey &key) {
  const std::string output = key.operation == "weight_grad" ? "f32" : key.dtype;
  return k.operation == key.operation && k.operand == key.dtype && k.output == output && k.epilogue == key.epilogue &&
         key.inChannels % k.alignment == 0 && key.outChannels % k.alignment == 0 &&
         (key.indexBits == 32 || k.indexBits == 64) && !k.pairWeights;
}

bool heuristicMayChoose(const KernelDescription &kernel) { return kernel.math != "tf32"; }

bool anyKernelTakes(const std::vector<KernelDescription> &kernels, const LayerKey &key) {
  return std::any_of(kernels.begin(), kernels.end(),
                     [&](const KernelDescription &k) { return kernelFits(k, key) && heuristicMayChoose(k); });
}

namespace {

json keyJson(const LayerKey &k) {
  return {{"in_channels", k.inChannels}, {"out_channels", k.outChannels}, {"kernel_volume", k.kernelVolume},
          {"transposed", k.transposed},  {"dtype", k.dtype},             {"epilogue", k.epilogue},
          {"outputs_log2", k.outputsLog2}, {"neighbours", k.neighbours}, {"operation", k.operation}};
}

std::string describeKey(const LayerKey &k) {
  return fmt::format("{}{}Cin {} Cout {} volume {}{} {} epilogue [{}], 2^{} outputs, {} neighbours",
                     k.operation == "forward" ? "" : k.operation, k.operation == "forward" ? "" : " ", k.inChannels,
                     k.outChannels, k.kernelVolume, k.transposed ? " transposed" : "", k.dtype,
                     fmt::join(k.epilogue, ", "), k.outputsLog2, k.neighbours);
}

bool exists(const std::vector<KernelDescription> &kernels, const std::string &name) {
  return std::any_of(kernels.begin(), kernels.end(), [&](const auto &k) { return k.name == name; });
}

} // namespace

ConfigTable ConfigTable::parse(const std::string &text, const std::string &source) {
  const JsonReader r("config table " + source);
  json document = parseJsonDocument(text, "config table " + source);
  // Compared as JSON values: a "format" of another type is "not a table", not a library exception.
  if (!document.is_object() || !document.contains("format") || document["format"] != "sparsekgen-config-table")
    r.fail("/format", "not a sparsekgen config table (expected \"format\": \"sparsekgen-config-table\")");
  if (r.get<int>(document, "", "version") != 1)
    r.fail("/version", fmt::format("version {} is not 1", JsonReader::brief(document["version"])));
  ConfigTable table;
  const json &gpu = r.field(document, "", "gpu");
  table.gpuName = r.get<std::string>(gpu, "/gpu", "name");
  table.gpuSm = r.get<int>(gpu, "/gpu", "sm");
  table.cudaDriverVersion = r.get<int>(gpu, "/gpu", "cuda_driver_version", 0);
  table.bundleHash = r.get<std::string>(document, "", "bundle_hash");
  table.date = r.get<std::string>(document, "", "date");
  table.workload = r.get<std::string>(document, "", "workload", "");
  table.tunedOn = r.get<std::vector<std::string>>(document, "", "tuned_on", {});
  const json &entries = r.field(document, "", "entries");
  if (!entries.is_array())
    r.fail("/entries", "expected an array");
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string pointer = fmt::format("/entries/{}", i);
    const json &e = entries[i];
    const json &k = r.field(e, pointer, "key");
    std::string kp = pointer + "/key";
    ConfigEntry entry;
    entry.key = {r.get<int>(k, kp, "in_channels"),
                 r.get<int>(k, kp, "out_channels"),
                 r.get<int>(k, kp, "kernel_volume"),
                 r.get<bool>(k, kp, "transposed"),
                 r.get<std::string>(k, kp, "dtype"),
                 r.get<std::vector<std::string>>(k, kp, "epilogue"),
                 r.get<int>(k, kp, "outputs_log2"),
                 r.get<int>(k, kp, "neighbours"),
                 r.get<std::string>(k, kp, "operation", "forward")};
    entry.choice = {r.get<std::string>(e, pointer, "kernel"), r.get<int>(e, pointer, "splits")};
    entry.timeMs = r.get<double>(e, pointer, "time_ms");
    entry.runnerUp = r.get<std::string>(e, pointer, "runner_up", "");
    entry.runnerUpMs = r.get<double>(e, pointer, "runner_up_ms", 0.0);
    entry.defaultMs = r.get<double>(e, pointer, "default_ms", 0.0);
    entry.layers = r.get<std::vector<std::string>>(e, pointer, "layers", {});
    table.entries.push_back(std::move(entry));
  }
  validateAgainstSchema(document, "config-table.schema.json", "config table " + source); // unknown fields
  return table;
}

ConfigTable ConfigTable::load(const std::string &path) {
  std::ifstream file(path);
  if (!file)
    throw RuntimeError(fmt::format("config table {}: cannot open", path));
  std::stringstream text;
  text << file.rdbuf();
  return parse(text.str(), path);
}

json ConfigTable::toJson() const {
  json list = json::array();
  for (const auto &e : entries)
    list.push_back({{"key", keyJson(e.key)},
                    {"kernel", e.choice.kernel},
                    {"splits", e.choice.splits},
                    {"time_ms", e.timeMs},
                    {"runner_up", e.runnerUp},
                    {"runner_up_ms", e.runnerUpMs},
                    {"default_ms", e.defaultMs},
                    {"layers", e.layers}});
  return {{"$schema", "../../schemas/config-table.schema.json"},
          {"format", "sparsekgen-config-table"},
          {"version", 1},
          {"gpu", {{"name", gpuName}, {"sm", gpuSm}, {"cuda_driver_version", cudaDriverVersion}}},
          {"bundle_hash", bundleHash},
          {"date", date},
          {"workload", workload},
          {"tuned_on", tunedOn},
          {"entries", list}};
}

void ConfigTable::save(const std::string &path) const { writeFileAtomically(path, toJson().dump(2) + "\n"); }

std::string joinBundleHashes(const std::vector<std::string> &hashes) {
  std::string joined;
  for (const auto &hash : hashes)
    joined += (joined.empty() ? "" : "+") + hash;
  return joined;
}

std::vector<std::string> splitBundleHashes(const std::string &joined) {
  std::vector<std::string> hashes;
  size_t start = 0;
  for (size_t plus; (plus = joined.find('+', start)) != std::string::npos; start = plus + 1)
    hashes.push_back(joined.substr(start, plus - start));
  hashes.push_back(joined.substr(start));
  return hashes;
}

namespace {

// Hashes as messages show them: 12 digits each, joined by '+'.
std::string shortHashes(const std::vector<std::string> &hashes) {
  std::vector<std::string> shown;
  for (const auto &hash : hashes)
    shown.push_back(hash.substr(0, 12));
  return joinBundleHashes(shown);
}

} // namespace

std::string ConfigTable::bundleMismatch(const std::string &linkedHashes) const {
  // A table tuned for some of the linked bundles (the default bundle, before the Hopper bundle was
  // linked beside it) names kernels that are all there: it matches.
  const std::vector<std::string> linked = splitBundleHashes(linkedHashes), tuned = splitBundleHashes(bundleHash);
  std::vector<std::string> missing;
  for (const auto &hash : tuned)
    if (std::find(linked.begin(), linked.end(), hash) == linked.end())
      missing.push_back(hash.substr(0, 12));
  if (missing.empty())
    return "";
  return fmt::format("tuned for bundle{} {}{}, the linked {} {}", tuned.size() > 1 ? "s" : "", shortHashes(tuned),
                     tuned.size() > 1 ? fmt::format(" ({} not linked)", fmt::join(missing, ", ")) : "",
                     linked.size() > 1 ? "bundles are" : "bundle is", shortHashes(linked));
}

void ConfigTable::requireMatch(const std::string &gpu, int sm, const std::string &bundle, bool allowMismatch) {
  std::vector<std::string> differences;
  if (gpu != gpuName || sm != gpuSm)
    differences.push_back(fmt::format("tuned on {} (sm_{}), running on {} (sm_{})", gpuName, gpuSm, gpu, sm));
  if (std::string bundles = bundleMismatch(bundle); !bundles.empty())
    differences.push_back(bundles);
  if (differences.empty())
    return;
  std::string message = fmt::format("config table: {}", fmt::join(differences, "; "));
  if (!allowMismatch)
    throw RuntimeError(message + "; retune with sparsekgen-tune, or accept the table anyway (allowMismatch)");
  warnings.push_back(message + "; used anyway on request");
}

Dispatch heuristicChoice(const LayerKey &key, const std::vector<KernelDescription> &kernels) {
  bool sortedPays = key.outputsLog2 >= 15 && key.neighbours * 3 <= key.kernelVolume;
  // The dataflow table names the heuristic's two dataflows (sorted for large sparse maps, else dense).
  auto heuristicRole = [&](const std::string &spelling) -> int {
    const DataflowInfo *info = findDataflow(spelling);
    if (!info || !(info->heuristicDense || info->heuristicSparse))
      return -1;
    return info->heuristicSparse == sortedPays ? 0 : 1; // 0: the preferred one, 1: the other
  };
  // Warpgroup MMA ran implicit GEMM, sorted or not, 1.04-1.6x faster than mma.sync at 64-256
  // channels on the H200 (bench/results/2026-12-07-h200-wgmma-vs-mma-sync.json), and its widest
  // tile (N 256) was the fastest at 256.
  const bool warpgroupPays = key.inChannels >= 64 && key.outChannels >= 64;
  const int mmaTileN = key.outChannels <= 32 ? 32 : key.outChannels >= 128 ? 128 : 64;
  const int warpgroupTileN = key.outChannels >= 256 ? 256 : mmaTileN;
  const KernelDescription *best = nullptr;
  long bestScore = 0;
  int bestTileM = 0, bestTileN = 0;
  for (const auto &k : kernels) {
    int role = heuristicRole(k.dataflow);
    if (!kernelFits(k, key) || !heuristicMayChoose(k) || role < 0)
      continue;
    const bool warpgroup = k.math == "warpgroup_mma";
    const int tileN = warpgroup ? warpgroupTileN : mmaTileN;
    const int tileM = tileN == 32 ? 64 : 128;
    // Lower is better: 64-bit kernels only for layers that need them or that no 32-bit kernel fits;
    // then the dataflow, the MMA, alignment (wider first), tile and stages, in that order of weight.
    long score = (k.indexBits != key.indexBits ? 100000000 : 0) + role * 2000000 +
                 (warpgroup != warpgroupPays ? 800000 : 0) + (8 - k.alignment) * 100000 +
                 (std::abs(k.tileN - tileN) + std::abs(k.tileM - tileM)) * 100 + std::abs(k.stages - 3);
    if (!best || score < bestScore) {
      best = &k;
      bestScore = score;
      bestTileM = tileM;
      bestTileN = tileN;
    }
  }
  if (!best)
    throw RuntimeError(fmt::format("no kernel of the bundle fits the layer ({}): none has its types, epilogue{} and a "
                                   "channel alignment dividing Cin and Cout (tf32 kernels only where a table names them)",
                                   describeKey(key), key.indexBits == 64 ? ", 64-bit indices" : ""));
  Dispatch d;
  d.source = Dispatch::Source::Heuristic;
  // Weight gradients take the runtime's K-chunk count for the layer (0); other dataflows one split.
  d.choice = {best->name, key.operation == "weight_grad" ? 0 : 1};
  d.reason = fmt::format("heuristic (no table entry of this shape): {} for {} outputs 2^{} with {} of {} offsets used; "
                         "{}; tile {}x{} nearest to {}x{}",
                         best->dataflow, sortedPays ? "large maps," : "this map,", key.outputsLog2, key.neighbours,
                         key.kernelVolume,
                         best->math == "warpgroup_mma"
                             ? (warpgroupPays ? "warpgroup MMA for 64 or more channels"
                                              : "warpgroup MMA, the only kernels of this dataflow that fit")
                         : warpgroupPays ? "no warpgroup-MMA kernel of this dataflow fits"
                                         : "below 64 channels, no warpgroup MMA",
                         best->tileM, best->tileN, bestTileM, bestTileN);
  return d;
}

Dispatch ConfigTable::dispatch(const LayerKey &key, const std::vector<KernelDescription> &kernels) const {
  const ConfigEntry *nearest = nullptr;
  int nearestDistance = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const ConfigEntry &e = entries[i];
    if (!e.key.sameShape(key) || !exists(kernels, e.choice.kernel))
      continue;
    if (e.key == key)
      return {Dispatch::Source::Exact, e.choice,
              fmt::format("exact entry {} (tuned {:.4f} ms{}{})", i, e.timeMs,
                          e.layers.empty() ? "" : " for ", fmt::join(e.layers, ", "))};
    int distance = std::abs(e.key.outputsLog2 - key.outputsLog2) + std::abs(e.key.neighbours - key.neighbours);
    if (!nearest || distance < nearestDistance) {
      nearest = &e;
      nearestDistance = distance;
    }
  }
  if (nearest)
    return {Dispatch::Source::Nearest, nearest->choice,
            fmt::format("nearest entry of this shape: tuned for 2^{} outputs and {} neighbours, this map has 2^{} and "
                        "{} (distance {})",
                        nearest->key.outputsLog2, nearest->key.neighbours, key.outputsLog2, key.neighbours,
                        nearestDistance)};
  return heuristicChoice(key, kernels);
}

} // namespace sparsekgen
