// Runs a network description on the GPU: every kernel map built once per run from the input
// coordinates, each convolution dispatched through the config table (or the heuristic) to a
// kernel of the linked bundle with its batch norm, residual add and ReLU fused, the remaining ops
// as element-wise and concatenation kernels, and tensors freed after their last reader.
//
// A convolution whose channels no kernel of the bundle takes runs with them zero-padded to
// multiples of 8 (every kernel family takes those); one whose fused epilogue no kernel has runs
// the convolution alone and the epilogue as an element-wise step. ConvDispatch says which.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <cuda.h>

#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/Context.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/GpuKernelMaps.h"
#include "sparsekgen/Network.h"

namespace sparsekgen {

// A [rows, channels] tensor of the network's type on the device, its rows following `coordinates`.
struct DeviceTensor {
  DeviceBuffer storage; // empty when the tensor is the caller's (the input)
  CUdeviceptr data = 0;
  int rows = 0, channels = 0;
  std::shared_ptr<const SparseCoordinates> coordinates;
};

// How one convolution of the last run was dispatched, over which map.
struct ConvDispatch {
  std::string layer, kernel, reason;
  Dispatch::Source source = Dispatch::Source::Heuristic;
  int splits = 1, inChannels = 0, outChannels = 0, volume = 0;
  long long outputs = 0, pairs = 0;
  int launchInChannels = 0, launchOutChannels = 0; // as the kernel runs (zero-padded when larger)
  bool epilogueUnfused = false;                     // the step's epilogue ran as an element-wise step
};

// Where a profiled run's time went (CUDA events, milliseconds).
struct NetworkStageTimes {
  double maps = 0;        // input coordinates checked and hashed, every map built, pairs counted
  double mapExtras = 0;   // sort permutations, tile masks, pair lists of the chosen kernels, summed
                          // over their builds on a side stream (overlapping the convolutions)
  double convolutions = 0;
  double elementwise = 0; // unfused batch norm, ReLU and add, and concatenations
  double total = 0;
  // Host time spent in the map and sort-input stages (enqueueing, synchronising): when it is close
  // to the stage's GPU time, the GPU waited for the host.
  double mapsHost = 0, mapExtrasHost = 0;
};

struct NetworkRunOptions {
  bool profile = false;           // events around every stage and step (stageTimes, stepMilliseconds)
  bool keepIntermediates = false; // keep every tensor for timeStep
};

class NetworkExecutor {
public:
  // Parameters as randomParameters names them. Throws RuntimeError when a parameter is missing or
  // has the wrong size. `table` may be null (heuristic dispatch); it must outlive the executor.
  NetworkExecutor(Context &context, Network network, const NetworkParameters &parameters,
                  const ConfigTable *table = nullptr);
  ~NetworkExecutor();

  // Runs the network on `rows` voxels: coordinates int32 [rows, 4] (batch, x, y, z), unique, and
  // features [rows, input_channels] in the network's type, both in device memory. Returns the
  // network's outputs by name (asynchronous on the default stream unless profiling).
  std::map<std::string, DeviceTensor> run(CUdeviceptr coordinates, int rows, CUdeviceptr features,
                                          const NetworkRunOptions &options = {});

  const Network &network() const { return network_; }
  const std::vector<PlanStep> &plan() const { return plan_; }
  const std::vector<ConvDispatch> &dispatches() const { return dispatches_; } // last run, conv steps in order
  const NetworkStageTimes &stageTimes() const { return stages_; }              // last profiled run
  const std::vector<double> &stepMilliseconds() const { return stepMs_; }      // last profiled run, per step
  // The last run's kernel maps by the description's map names, their pair counts, and its levels'
  // coordinates by level name ("l0" the input's).
  const std::map<std::string, DeviceKernelMap> &maps() const { return maps_; }
  const std::map<std::string, long long> &pairCounts() const { return pairs_; }
  const std::map<std::string, std::shared_ptr<const SparseCoordinates>> &levels() const { return levels_; }

  // Median time of plan step `step` alone, re-run on the last run's tensors (which must have been
  // kept with keepIntermediates), CUDA events around each run.
  double timeStep(size_t step, int warmup, int iterations);

private:
  struct StepResources;
  void dispatchConvolutions();
  std::optional<MapExtrasRequest> extrasRequest(size_t step) const;
  void prepareExtras(size_t step);
  void launchStep(size_t step);

  Context &context_;
  Network network_;
  std::vector<PlanStep> plan_;
  const ConfigTable *table_;
  uint32_t dtype_;                              // skg_dtype of the network
  std::vector<std::vector<std::string>> freedAfter_; // per plan step: tensors it reads last
  std::vector<KernelDescription> descriptions_;
  std::map<std::string, DeviceBuffer> parameters_; // on the device, in the network's type (f32 for vectors)
  std::vector<std::unique_ptr<StepResources>> steps_;

  // State of the last run.
  std::map<std::string, std::shared_ptr<const SparseCoordinates>> levels_;
  std::map<std::string, DeviceKernelMap> maps_;
  std::map<std::string, long long> pairs_;
  std::map<std::string, DeviceTensor> tensors_;
  // Sort inputs and pair lists of this run by (map, splits, tile rows, pairs), built on the side
  // stream; `ready` is recorded there once they are.
  struct BuiltExtras {
    std::shared_ptr<const DeviceKernelMapExtras> extras;
    CUevent ready = nullptr;
    BuiltExtras() = default;
    BuiltExtras(const BuiltExtras &) = delete;
    BuiltExtras &operator=(const BuiltExtras &) = delete;
    ~BuiltExtras();
  };
  std::map<std::tuple<std::string, int, int, bool>, BuiltExtras> extrasBuilt_;
  CUstream sideStream_ = nullptr;
  std::vector<ConvDispatch> dispatches_;
  NetworkStageTimes stages_;
  std::vector<double> stepMs_;
};

} // namespace sparsekgen
