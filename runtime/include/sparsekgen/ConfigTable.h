// The config table: kernel choices tuned offline per GPU and bundle (schemas/config-table.schema.json),
// and dispatch from it: the exact key, else the nearest key of the same layer shape, else a
// documented heuristic (docs/tuning.md). CPU-only, so tools without a GPU can explain choices.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sparsekgen/BundleAbi.h"

namespace sparsekgen {

// What a choice depends on: the layer's shape and types, and its map bucketed.
struct LayerKey {
  int inChannels = 0, outChannels = 0, kernelVolume = 0;
  bool transposed = false;
  std::string dtype = "f16";         // operand type
  std::vector<std::string> epilogue; // fused ops, in order
  int outputsLog2 = 0;               // floor(log2(outputs))
  int neighbours = 0;                // round(pairs / outputs)
  std::string operation = "forward"; // forward, input_grad or weight_grad: tuned separately
  // 64 for a layer whose tensors only 64-bit kernels reach (IndexWidth.h: widenWhereNeeded sets
  // it); tables hold 32-bit layers only.
  int indexBits = 32;
  bool operator==(const LayerKey &) const = default;
  bool sameShape(const LayerKey &other) const; // all but the two map buckets
};

LayerKey layerKey(int inChannels, int outChannels, int kernelVolume, bool transposed, const std::string &dtype,
                  const std::vector<std::string> &epilogue, long long outputs, long long pairs);
// The key of one operation ("forward", "input_grad", "weight_grad") of the layer of `forward`:
// gradient kernels fuse no epilogue (the element-wise backward ops run on their own).
LayerKey operationKey(LayerKey forward, const std::string &operation);

// A kernel of the bundle as dispatch sees it: from its spec JSON (record spec_json or manifest).
struct KernelDescription {
  std::string name, dataflow, operand, output, math;
  int alignment = 8, tileM = 0, tileN = 0, stages = 0;
  std::vector<std::string> epilogue;
  std::string operation = "forward";
  int indexBits = 32; // the width of its address arithmetic (IndexWidth.h)
  bool pairWeights = false; // scales each pair's product by a weight (graph layers, GraphConv.h)
};
// `spec` as a manifest or a bundle record holds it; a missing, mistyped or out-of-range field
// throws RuntimeError naming `document`, the JSON pointer `pointer` + the field, and the kernel.
KernelDescription describeKernel(const std::string &name, const nlohmann::json &spec,
                                 const std::string &document = "bundle", const std::string &pointer = "");
// The descriptions of a linked bundle's kernels (Context::kernels()), in that order.
std::vector<KernelDescription> describeKernels(const std::vector<const skg_kernel_record *> &records);

// Whether the heuristic, the executor's plan and the tuner (without --allow-tf32) may choose
// `kernel`: not a tf32 kernel, which rounds f32 operands to 10 mantissa bits. Such a kernel computes
// an f32 layer only where a config table entry names it (a table tuned with --allow-tf32).
bool heuristicMayChoose(const KernelDescription &kernel);
// Whether some kernel the heuristic may choose computes the layer of `key` (kernelFits).
bool anyKernelTakes(const std::vector<KernelDescription> &kernels, const LayerKey &key);

// Whether `kernel` computes the layer of `key`: its operation, its operand type, an output of that
// same type (f32 for weight gradients), its fused epilogue, a channel alignment dividing Cin and
// Cout, and 64-bit indices where the key needs them (a 64-bit kernel computes any layer). Kernels
// with pair weights compute graph layers (GraphConv.h), never a convolution of a layer key.
bool kernelFits(const KernelDescription &kernel, const LayerKey &key);

// Several bundles' hashes as contexts and tables record them: joined by '+', in link order.
std::string joinBundleHashes(const std::vector<std::string> &hashes);
std::vector<std::string> splitBundleHashes(const std::string &joined);

struct KernelChoice {
  std::string kernel;
  int splits = 1;
};

struct ConfigEntry {
  LayerKey key;
  KernelChoice choice;
  double timeMs = 0, runnerUpMs = 0, defaultMs = 0;
  std::string runnerUp;
  std::vector<std::string> layers;
};

struct Dispatch {
  enum class Source { Exact, Nearest, Heuristic } source = Source::Heuristic;
  KernelChoice choice;
  std::string reason; // a sentence saying which entry or rule and why
};

class ConfigTable {
public:
  std::string gpuName, date, workload, bundleHash;
  int gpuSm = 0, cudaDriverVersion = 0;
  std::vector<std::string> tunedOn;
  std::vector<ConfigEntry> entries;
  std::vector<std::string> warnings; // e.g. a mismatch accepted on request

  // Parses a table; a malformed or incomplete one throws RuntimeError naming the file and the
  // JSON pointer (or line and column).
  static ConfigTable parse(const std::string &text, const std::string &source);
  static ConfigTable load(const std::string &path);
  nlohmann::json toJson() const;
  void save(const std::string &path) const; // all or nothing (OutputFiles.h)

  // Refuses (RuntimeError saying both sides) a table tuned on another GPU or for a bundle that is not
  // linked, unless `allowMismatch`, which records a warning instead. `bundle` is the linked bundles'
  // hash (Context::bundleHash: several joined by '+'); a table tuned for some of them matches.
  void requireMatch(const std::string &gpu, int sm, const std::string &bundle, bool allowMismatch);
  // What requireMatch says of the bundles alone: empty when every bundle the table was tuned for is
  // among `linked` (joined hashes), else a sentence naming those that are not.
  std::string bundleMismatch(const std::string &linked) const;

  // Chooses among `kernels` (the linked bundle's): exact key, nearest key of the same shape whose
  // kernel exists, else heuristicChoice. Throws RuntimeError when no kernel fits the layer.
  Dispatch dispatch(const LayerKey &key, const std::vector<KernelDescription> &kernels) const;
};

// The rule used without a table entry: among kernels of the layer's types, epilogue and the
// widest channel alignment dividing Cin and Cout, the sorted dataflow for maps of at least 32k
// outputs with at most a third of the offsets used per row, else unsorted; warpgroup-MMA kernels
// (sm_90a; among `kernels` only on GPUs that run them) for layers with Cin and Cout >= 64, mma.sync
// ones below; CTA N 32 for Cout <= 32, 128 for Cout >= 128 (256 for Cout >= 256 with warpgroup
// MMA), else 64; CTA M 128 (64 when N is 32); 3 stages, else the nearest.
Dispatch heuristicChoice(const LayerKey &key, const std::vector<KernelDescription> &kernels);

} // namespace sparsekgen
