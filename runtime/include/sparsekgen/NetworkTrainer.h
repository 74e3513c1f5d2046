// Trains a network description on the GPU: one training step builds every kernel map once from the
// input coordinates, runs the forward with batch statistics (saving what the backward reads), a
// mean cross-entropy loss on the network's one output, the backward through every node (input and
// weight gradients of each convolution through its dispatched input_grad and weight_grad kernels,
// batch norm, ReLU, residual adds and concatenations), and an optimizer step on fp32 master
// parameters, with dynamic loss scaling for fp16 networks. Every reduction is ordered, so two
// steps from the same state give the same bits.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <cuda.h>

#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/Context.h"
#include "sparsekgen/DynamicLossScale.h"
#include "sparsekgen/Network.h"

namespace sparsekgen {

struct TrainerOptions {
  enum class Optimizer { Sgd, AdamW };
  Optimizer optimizer = Optimizer::Sgd;
  float learningRate = 0.01f;
  float weightDecay = 1e-4f;                           // SGD: added to the gradient; AdamW: decoupled
  float momentum = 0.9f;                               // SGD
  float beta1 = 0.9f, beta2 = 0.999f, adamEps = 1e-8f; // AdamW
  float batchNormEps = 1e-5f, batchNormMomentum = 0.1f;
  // fp16 networks scale the loss dynamically (DynamicLossScale); bf16 and f32 networks train unscaled.
  float initialLossScale = 65536.0f;
  int lossScaleGrowthInterval = 2000;
};

// The inputs of one step, in device memory: coordinates int32 [rows, 4] (batch, x, y, z), unique;
// features [rows, input_channels] in the network's type; labels int32 [labelRows], one class per
// row of the output's level (a label outside [0, classes) is ignored).
struct TrainingBatch {
  CUdeviceptr coordinates = 0, features = 0, labels = 0;
  int rows = 0, labelRows = 0;
};

struct TrainingStepOptions {
  bool update = true;   // false: gradients only (the parameters stay as they are)
  bool profile = false; // events around every stage (stageTimes)
  // Keep every node's output and its gradient (tensorValues, tensorGradients), as PyTorch's
  // retain_grad does: for finding where a step parts from a reference. Synchronises once per node.
  bool keepTensors = false;
};

struct TrainingStepResult {
  float loss = 0;           // the mean cross-entropy, unscaled
  bool applied = false;     // false: the gradients held a NaN or infinity and the update was skipped
  float lossScale = 1;      // the scale this step's gradients carried
  long long outputRows = 0; // rows of the output (labels counted against it)
};

// Where a profiled step's time went (CUDA events, milliseconds).
struct TrainingStageTimes {
  double maps = 0;        // coordinates hashed, every map built, pairs counted (one read-back)
  double mapExtras = 0;   // transposed maps, sort inputs and pair lists the dispatched kernels read
  double forward = 0;     // forward convolutions
  double inputGrad = 0;   // input gradients of the convolutions
  double weightGrad = 0;  // weight (and bias) gradients of the convolutions
  double elementwise = 0; // batch norm, ReLU, add, concatenation forward and backward, and the loss
  double optimizer = 0;   // the overflow check and the parameter update
  double total = 0;
};

// How one operation of one convolution was dispatched in the last step.
struct TrainingDispatch {
  std::string layer, operation, kernel, reason;
  Dispatch::Source source = Dispatch::Source::Heuristic;
  int splits = 1;          // weight gradients: K chunks per offset, 0 = the runtime's choice
  double milliseconds = 0; // a profiled step's time of this operation (CUDA events)
};

class NetworkTrainer {
public:
  // `parameters` as TrainingParameters.h names them (checkTrainingParameters). The network needs one
  // output: the logits, one column per class. `table` may be null (heuristic dispatch); it must
  // outlive the trainer. Throws RuntimeError for a network or parameters it cannot train.
  NetworkTrainer(Context &context, Network network, const NetworkParameters &parameters,
                 const ConfigTable *table = nullptr, TrainerOptions options = {});
  ~NetworkTrainer();
  NetworkTrainer(const NetworkTrainer &) = delete;
  NetworkTrainer &operator=(const NetworkTrainer &) = delete;

  // One training step (synchronises once, to read the loss and the overflow check).
  TrainingStepResult step(const TrainingBatch &batch, const TrainingStepOptions &options = {});

  // The current fp32 master parameters and running statistics, by name.
  NetworkParameters parameters() const;
  // The last step's gradients of the learned parameters, unscaled (f32), by name.
  NetworkParameters gradients() const;
  // The last step's logits [outputRows, classes], decoded to floats.
  std::vector<float> logits() const;
  // The last step's output of every node and its gradient (unscaled), by node name [rows, channels];
  // empty unless the step kept them (TrainingStepOptions::keepTensors).
  const std::map<std::string, std::vector<float>> &tensorValues() const { return tensorValues_; }
  const std::map<std::string, std::vector<float>> &tensorGradients() const { return tensorGradients_; }

  const Network &network() const { return network_; }
  float lossScale() const { return lossScale_.scale(); }
  long long stepsApplied() const { return stepsApplied_; }
  const std::vector<TrainingDispatch> &dispatches() const { return dispatches_; } // last step
  const TrainingStageTimes &stageTimes() const { return stages_; }                // last profiled step

private:
  struct State;
  Context &context_;
  Network network_;
  const ConfigTable *table_;
  TrainerOptions options_;
  DynamicLossScale lossScale_;
  long long stepsApplied_ = 0;
  std::vector<TrainingDispatch> dispatches_;
  TrainingStageTimes stages_;
  std::map<std::string, std::vector<float>> tensorValues_, tensorGradients_;
  std::unique_ptr<State> state_;
};

} // namespace sparsekgen
