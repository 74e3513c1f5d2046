// The parameters of a network description in training, named as PyTorch names a module's
// state_dict entries (the node name, then the entry), so checkpoints of TorchSparse-style models
// map by name:
//   "<conv>.weight" [volume, Cin, Cout] (kernel offsets in kernelOffsetAt's order), "<conv>.bias" [Cout];
//   "<rgcn>.weight" [relations (+1 with root), Cin, Cout] (W_self last), "<rgcn>.bias" [Cout];
//   "<batch_norm>.weight" (gamma) and "<batch_norm>.bias" (beta) [C], learned;
//   "<batch_norm>.running_mean" and "<batch_norm>.running_var" [C], statistics updated by training.
// Inference (NetworkExecutor) reads batch norm folded to "<batch_norm>.scale" / ".shift".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sparsekgen/Network.h"

namespace sparsekgen {

// Every training parameter of `network` with its shape, in node order (weights of a node first).
struct ParameterShape {
  std::string name;
  std::vector<int64_t> shape;
  bool learned = true; // false for running statistics
  int64_t elements() const;
};
std::vector<ParameterShape> trainingParameterShapes(const Network &network);

// Initial parameters as TorchSparse initialises its modules: convolution weights uniform in
// [-1/sqrt(Cin * volume), 1/sqrt(Cin * volume)] (Cout for transposed maps), biases in the same range,
// gamma 1, beta 0, running mean 0 and variance 1; deterministic for a seed.
NetworkParameters initialTrainingParameters(const Network &network, uint32_t seed);

// Checks that `parameters` holds every training parameter of `network` with its size, and nothing
// else; throws RuntimeError naming the first missing, extra or mis-sized one.
void checkTrainingParameters(const Network &network, const NetworkParameters &parameters);

// The executor's parameters: batch norm folded with its running statistics, scale = gamma /
// sqrt(running_var + eps), shift = beta - running_mean * scale; convolution parameters unchanged.
NetworkParameters foldBatchNorm(const Network &network, const NetworkParameters &training, double eps = 1e-5);

} // namespace sparsekgen
