// The float64 CPU training step of a network description, the reference the trainer's gradients
// are checked against: forward with batch statistics, a mean cross-entropy loss on the network's
// one output against per-row labels, and the backward through every node.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sparsekgen/KernelMap.h"
#include "sparsekgen/Network.h"

namespace sparsekgen {

struct NetworkTrainingReference {
  double loss = 0;
  std::vector<double> logits;                           // the output [rows, classes]
  std::map<std::string, std::vector<double>> gradients; // every learned parameter (TrainingParameters.h)
};

// `training` as TrainingParameters.h names them; labels [output rows] (outside [0, classes): ignored).
// Maps from the CPU builders. Without `withGradients` only the loss and logits are computed (for
// finite differences).
NetworkTrainingReference referenceNetworkTrainingStep(const Network &network, const NetworkParameters &training,
                                                      const std::vector<Coordinate> &coordinates,
                                                      const std::vector<float> &features,
                                                      const std::vector<int32_t> &labels, bool withGradients = true,
                                                      double eps = 1e-5);

} // namespace sparsekgen
