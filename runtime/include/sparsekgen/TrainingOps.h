// The device ops of a training step besides convolutions: batch norm with batch statistics (forward
// and backward), the backward of ReLU, gradient accumulation (residual adds and branches), a
// per-voxel cross-entropy loss, and the optimizer steps (SGD with momentum, AdamW) on fp32 master
// weights, with the overflow check of dynamic loss scaling. Tensors are row-major [rows, channels]
// of `dtype` (skg_dtype: f16, bf16 or f32) unless f32 is said. Every reduction adds per-chunk
// partials in a fixed order, so results do not depend on scheduling (bit-identical across runs).
// All asynchronous on `stream`; bad sizes throw RuntimeError before any launch.
#pragma once

#include <cstdint>

#include <cuda.h>

namespace sparsekgen {

// y = gamma * (x - mean) / sqrt(var + eps) + beta with the batch's mean and (biased) variance per
// channel; saves mean and 1 / sqrt(var + eps) (f32 [channels]) for the backward, and updates the
// running statistics as PyTorch does: running = (1 - momentum) * running + momentum * batch, the
// variance unbiased (times rows / (rows - 1)).
struct BatchNormTrainingArguments {
  CUdeviceptr x = 0, y = 0;                          // dtype
  CUdeviceptr gamma = 0, beta = 0;                   // f32 [channels]
  CUdeviceptr savedMean = 0, savedInvStd = 0;        // f32 [channels], written
  CUdeviceptr runningMean = 0, runningVar = 0;       // f32 [channels], updated (0: not kept)
  long long rows = 0;
  int channels = 0;
  uint32_t dtype = 0;
  float eps = 1e-5f, momentum = 0.1f;
};
void batchNormTrainingForward(const BatchNormTrainingArguments &args, CUstream stream);

// From dy and the forward's x, gamma and saved statistics: dx (dtype), and f32 [channels] dgamma =
// sum dy * xhat and dbeta = sum dy (overwritten).
struct BatchNormBackwardArguments {
  CUdeviceptr x = 0, outputGrad = 0, inputGrad = 0;   // dtype
  CUdeviceptr gamma = 0, savedMean = 0, savedInvStd = 0; // f32 [channels]
  CUdeviceptr gammaGrad = 0, betaGrad = 0;              // f32 [channels], written
  long long rows = 0;
  int channels = 0;
  uint32_t dtype = 0;
};
void batchNormBackward(const BatchNormBackwardArguments &args, CUstream stream);

// dx = dy where the ReLU's output y > 0, else 0 (`elements` of dtype). dx may be dy.
void reluBackward(CUdeviceptr outputGrad, CUdeviceptr output, CUdeviceptr inputGrad, long long elements,
                  uint32_t dtype, CUstream stream);

// sum += addend, elementwise (`elements` of dtype): where a tensor feeds two consumers (a residual
// add, a concatenation's inputs), its gradient is the sum of theirs.
void accumulateGradient(CUdeviceptr sum, CUdeviceptr addend, long long elements, uint32_t dtype, CUstream stream);

// A convolution bias's gradient: biasGrad (f32 [channels], overwritten) = the column sums of dy.
void biasGradient(CUdeviceptr outputGrad, long long rows, int channels, uint32_t dtype, CUdeviceptr biasGrad,
                  CUstream stream);

// Mean cross-entropy over rows of logits [rows, classes] (dtype) against int32 labels [rows] (a
// label outside [0, classes) is ignored: it adds no loss and no gradient, and the mean is over the
// rows that count). Writes the f32 loss (one value) and dlogits (dtype, [rows, classes]) =
// (softmax - onehot) / counted rows * lossScale.
struct CrossEntropyArguments {
  CUdeviceptr logits = 0, labels = 0, loss = 0, logitsGrad = 0;
  long long rows = 0;
  int classes = 0;
  uint32_t dtype = 0;
  float lossScale = 1.0f;
};
void crossEntropyLoss(const CrossEntropyArguments &args, CUstream stream);

// One optimizer step over `count` f32 master parameters with f32 gradients scaled by the loss
// scale: g = grad / lossScale (+ weightDecay * p for SGD). SGD: m = momentum * m + g, p -= lr * m.
// AdamW (decoupled decay): p -= lr * weightDecay * p; m = beta1 m + (1 - beta1) g; v = beta2 v +
// (1 - beta2) g^2; p -= lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps). When
// `weights` is not 0, the updated parameters are also written to it in `weightType` (the operand
// copy the kernels read).
struct OptimizerArguments {
  CUdeviceptr master = 0, grad = 0, weights = 0;
  CUdeviceptr momentum = 0, secondMoment = 0; // f32 [count]: SGD uses momentum; AdamW both
  long long count = 0;
  uint32_t weightType = 0;
  float lr = 0.01f, lossScale = 1.0f, weightDecay = 0.0f;
  float momentumFactor = 0.9f;                  // SGD
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f; // AdamW
  long long step = 1;                           // AdamW: 1 for the first step
};
void sgdMomentumStep(const OptimizerArguments &args, CUstream stream);
void adamWStep(const OptimizerArguments &args, CUstream stream);

// Adds to the int32 at `flag` the number of values of f32 `values` [count] that are NaN or infinite
// (the overflow check before an fp16 step with loss scaling: DynamicLossScale.h).
void countNonFinite(CUdeviceptr values, long long count, CUdeviceptr flag, CUstream stream);

} // namespace sparsekgen
