// A network description (schemas/network.schema.json): sparse convolutions, folded batch norm,
// ReLU, residual add and channel concatenation over the maps of a workload -- or, in a graph
// network, relational graph convolutions (rgcn) over the nodes of a relational graph -- and the plan the
// executors run, with batch norm, residual add and ReLU fused into the step that produces their
// input wherever nothing else reads the intermediate tensor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sparsekgen/Graph.h"
#include "sparsekgen/Workload.h"

namespace sparsekgen {

struct NetworkNode {
  std::string name;
  std::string op;                  // conv, rgcn, batch_norm, relu, add, concat
  std::vector<std::string> inputs; // tensor names: "input" or earlier nodes
  std::string map;                 // conv
  int outChannels = 0;             // conv, rgcn
  bool bias = false;               // conv, rgcn
  std::string aggregation = "mean"; // rgcn: sum, mean or symmetric (Graph.h's RelationNormalization)
  bool root = true;                 // rgcn: the self term x_i W_self
};

// A tensor of the network: the input or a node's output.
struct TensorShape {
  std::string level; // the coordinates its rows follow ("l0" for the input)
  int channels = 0;
  int producer = -1; // node index, -1 for the input
};

struct Network {
  static constexpr const char *kInput = "input";
  static constexpr const char *kNodeLevel = "nodes"; // the level of every tensor of a graph network

  std::string name, description, dtype, source;
  int inputChannels = 0;
  std::vector<WorkloadInput> inputs; // default inputs for benchmarks and tuning
  std::vector<WorkloadMap> maps;
  std::vector<NetworkNode> nodes;    // in execution order
  std::vector<std::string> outputs;
  std::map<std::string, TensorShape> tensors;
  // A graph network (docs/graphs.md) runs on a relational graph of this many relations instead of
  // coordinates: it has no maps, its layers are rgcn nodes and its tensors are node rows.
  int graphRelations = 0;

  bool isGraph() const { return graphRelations > 0; }
  const NetworkNode &findNode(const std::string &name) const;
  // Offsets of an rgcn node's weight [volume, Cin, Cout]: the relations, then W_self with a root.
  int rgcnVolume(const NetworkNode &node) const { return graphRelations + (node.root ? 1 : 0); }

  const WorkloadMap &findMap(const std::string &name) const { return findWorkloadMap(maps, name, "network " + source); }
  // The convolution layers of the fused plan as a tuning workload (layer names are conv node names);
  // a graph network has none.
  Workload workload() const;
};

// Throws RuntimeError naming the file and the JSON pointer of what is wrong: an unknown op, a
// tensor read before it is written, a map reading other coordinates than its input's, an add of
// tensors with different channels or levels, a concatenation across levels, a conv in a graph
// network or an rgcn outside one.
Network loadNetwork(const std::string &path);
Network parseNetwork(const std::string &text, const std::string &source);

// One step of the plan: a convolution, an element-wise op, or a concatenation, with the ops fused
// after it (skg_epilogue_op names, in order: bias, scale_shift, residual_add, relu).
struct PlanStep {
  enum class Kind { Conv, Rgcn, Elementwise, Concat } kind = Kind::Conv;
  std::string name;                 // the first node of the step (for convs and rgcn: the layer name)
  std::string output;               // the tensor it writes: its last fused node
  std::vector<std::string> inputs;  // conv and element-wise: one; concat: several
  std::string map;                  // conv
  int inChannels = 0, outChannels = 0;
  std::vector<std::string> epilogue;
  std::string biasOf, scaleShiftOf; // nodes whose parameters the bias and scale_shift ops read
  std::string residual;             // tensor of residual_add
  std::vector<std::string> nodes;   // every node the step computes
};

// Batch norm, then residual add, then ReLU are fused into the preceding step while the tensor in
// between has that op as its only reader and is not a network output; a residual must be written
// before the step starts. A lone add becomes an element-wise step with its second operand as residual.
std::vector<PlanStep> planNetwork(const Network &network);

// Random parameters, by name: "<conv>.weight" [volume, Cin, Cout], "<conv>.bias" [Cout],
// "<rgcn>.weight" [rgcnVolume, Cin, Cout] (W_self last), "<rgcn>.bias" [Cout],
// "<batch_norm>.scale" and ".shift" [C] (folded). Weights are representable in the network's type
// and scaled so that activations stay O(1) through deep networks.
using NetworkParameters = std::map<std::string, std::vector<float>>;

// Parameter `name` of `size` values; RuntimeError naming the network when it is missing or sized wrong.
const std::vector<float> &requireParameter(const NetworkParameters &parameters, const std::string &name,
                                           size_t size, const Network &network);
NetworkParameters randomParameters(const Network &network, uint32_t seed);

// Random input features [rows, input_channels], uniform in [-1, 1] and representable in the network's type.
std::vector<float> randomFeatures(const Network &network, size_t rows, uint32_t seed);

// The coordinates of `level` (the rows of every tensor on it) for an input's coordinates, from the
// CPU map builders: "l0" is the input itself.
std::vector<Coordinate> levelCoordinatesCpu(const Network &network, const std::vector<Coordinate> &coordinates,
                                            const std::string &level);

// The description run node by node in float64 on the CPU (maps from the CPU builders): each
// output [rows, channels] with its rows in the order of its level's coordinates.
std::map<std::string, std::vector<double>> referenceNetworkForward(const Network &network,
                                                                   const NetworkParameters &parameters,
                                                                   const std::vector<Coordinate> &coordinates,
                                                                   const std::vector<float> &features);

// A graph network run node by node in float64 on the CPU over `graph` (features [nodes,
// input_channels]): each output [nodes, channels]. Throws RuntimeError when the graph's relations
// differ from the network's.
std::map<std::string, std::vector<double>> referenceGraphNetworkForward(const Network &network,
                                                                        const NetworkParameters &parameters,
                                                                        const RelationalGraph &graph,
                                                                        const std::vector<float> &features);

} // namespace sparsekgen
