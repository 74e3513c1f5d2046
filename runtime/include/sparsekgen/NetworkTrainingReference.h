// The float64 CPU training step of a network description, the reference the trainer's gradients
// are checked against: forward with batch statistics, a mean cross-entropy loss on the network's
// one output against per-row labels, and the backward through every node.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sparsekgen/KernelMap.h"
#include "sparsekgen/Network.h"

namespace sparsekgen {

struct NetworkTrainingReference {
  double loss = 0;
  std::vector<double> logits;                           // the output [rows, classes]
  std::map<std::string, std::vector<double>> gradients; // every learned parameter (TrainingParameters.h)
  // With keepTensorGradients: the gradient of every node's output that reaches the loss.
  std::map<std::string, std::vector<double>> tensorGradients;
};

struct NetworkTrainingReferenceOptions {
  bool withGradients = true; // false: only the loss and logits (for finite differences)
  double eps = 1e-5;         // batch norm
  // None: every tensor kept in float64. A dtype (skg_dtype): every tensor the GPU trainer stores is
  // rounded to it where the trainer stores it (node outputs, and the input gradients scaled by
  // `lossScale`, as a mixed-precision step stores them), and convolutions read their weights in
  // it; weight, bias and batch-norm gradients stay unrounded, as the trainer keeps them in f32.
  // The arithmetic stays float64, so this measures the trainer's kernels and order of operations
  // apart from the rounding of what it stores.
  std::optional<uint32_t> storage;
  float lossScale = 1;
  bool keepTensorGradients = false;
  // Another run's ReLU outputs by node (e.g. the GPU trainer's tensorValues): the backward takes
  // its ReLU masks from them, so gradients are compared on the same side of every kink (an
  // activation within rounding of zero decides a mask either way, and the gradient jumps there).
  const std::map<std::string, std::vector<float>> *reluOutputs = nullptr;
};

// `training` as TrainingParameters.h names them; labels [output rows] (outside [0, classes): ignored).
// Maps from the CPU builders.
NetworkTrainingReference referenceNetworkTrainingStep(const Network &network, const NetworkParameters &training,
                                                      const std::vector<Coordinate> &coordinates,
                                                      const std::vector<float> &features,
                                                      const std::vector<int32_t> &labels,
                                                      const NetworkTrainingReferenceOptions &options = {});

} // namespace sparsekgen
