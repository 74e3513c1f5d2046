// Runs a graph network description (Network::isGraph, docs/graphs.md) on the GPU: its rgcn layers
// on the pair-list kernels of a bundle with pair weights (the graph bundle,
// sparsekgen_graph_kernels), each chosen by chooseGraphKernel with its bias and ReLU fused where
// the bundle has that epilogue; batch norm, residual add, ReLU left over and concatenation as
// element-wise steps; tensors freed after their last reader.
//
// The graph is set once and read by every run until the next setGraph: its pair lists are built on
// the device for each (aggregation, root) its layers use, so a transductive model serving many
// feature sets pays for them once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <cuda.h>

#include "sparsekgen/Context.h"
#include "sparsekgen/GraphConv.h"
#include "sparsekgen/Network.h"
#include "sparsekgen/NetworkExecutor.h"

namespace sparsekgen {

struct GraphNetworkOptions {
  bool tf32 = false; // f32 networks: tf32 kernels (10-bit mantissa) instead of exact fp32
};

// How one rgcn layer runs.
struct GraphLayerDispatch {
  std::string layer, kernel;
  std::vector<std::string> fused, unfused; // epilogue ops in the kernel and after it, element-wise
};

class GraphNetworkExecutor {
public:
  // `context` must hold a bundle with pair-weight kernels (the graph bundle). Parameters as
  // randomParameters names them ("<rgcn>.weight" [relations (+1 with root), Cin, Cout], W_self
  // last). Throws RuntimeError for a network that is not a graph network, a missing or mis-sized
  // parameter, or a layer no kernel of the bundle runs.
  GraphNetworkExecutor(Context &context, Network network, const NetworkParameters &parameters,
                       GraphNetworkOptions options = {});

  // The graph of the next runs: `edges` typed edges as device int32 arrays (source, target,
  // relation of each edge) over `nodes` nodes. Ids are checked on the device (an edge out of range
  // throws naming its row); synchronises the default stream.
  void setGraph(DevicePointer sources, DevicePointer targets, DevicePointer relationOfEdge, int64_t edges,
                int64_t nodes);
  // The same from a graph on the host; throws when its relations differ from the network's.
  void setGraph(const RelationalGraph &graph);

  // Runs on features [nodes, input_channels] in the network's type, in device memory; returns the
  // outputs by name, asynchronous on the default stream unless profiling.
  std::map<std::string, DeviceTensor> run(CUdeviceptr features, bool profile = false);

  const Network &network() const { return network_; }
  const std::vector<PlanStep> &plan() const { return plan_; }
  const std::vector<GraphLayerDispatch> &dispatches() const { return dispatches_; }
  const std::vector<double> &stepMilliseconds() const { return stepMs_; } // last profiled run, per step

private:
  using GraphKey = std::pair<RelationNormalization, bool>; // aggregation, root
  void launchStep(size_t step);

  Context &context_;
  Network network_;
  std::vector<PlanStep> plan_;
  uint32_t dtype_;
  std::vector<const skg_kernel_record *> kernels_; // per plan step, rgcn steps
  std::vector<GraphKey> graphKeys_;                // per plan step, rgcn steps: the pair lists they read
  std::vector<std::vector<uint32_t>> unfusedOps_;  // per plan step: ops run element-wise
  std::vector<std::vector<std::string>> freedAfter_;
  std::vector<GraphLayerDispatch> dispatches_;
  std::map<std::string, DeviceBuffer> parameters_;
  std::map<GraphKey, DeviceRelationGraph> graphs_;
  int64_t nodes_ = -1; // -1 until setGraph
  std::map<std::string, DeviceTensor> tensors_;
  std::vector<double> stepMs_;
};

} // namespace sparsekgen
