#include "sparsekgen/TrainingOps.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "device/DeviceUtil.cuh"
#include "device/ElementAccess.cuh"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

using gpu::load;
using gpu::store;

// Column reductions run in two fixed-order passes, with no atomics, so the same input gives the
// same bits. Pass 1: each block sums one chunk of rows for a group of channels, its threads laid
// out as `lanes` rows by the group's channels (consecutive threads read consecutive channels of a
// row), lanes added in lane order; one f32 partial per (chunk, channel). Pass 2: one block per
// channel adds that channel's chunk partials in double, in a fixed tree.
constexpr int kRowsPerLane = 16;

struct ColumnLayout {
  int channelsPerBlock, lanes, chunkRows;
  long long chunks;
  unsigned channelGroups;
};

ColumnLayout columnLayout(long long rows, int channels) {
  ColumnLayout l;
  l.channelsPerBlock = std::min(channels, gpu::kThreads);
  l.lanes = gpu::kThreads / l.channelsPerBlock;
  l.chunkRows = l.lanes * kRowsPerLane;
  l.chunks = std::max<long long>(1, (rows + l.chunkRows - 1) / l.chunkRows);
  l.channelGroups = static_cast<unsigned>((channels + l.channelsPerBlock - 1) / l.channelsPerBlock);
  return l;
}

unsigned gridFor(long long work) { return std::min(gpu::blocksFor(work), 132u * 16u); }

template <int W> struct Terms { float v[W]; };

// partials[chunk][c][w] = sum over the chunk's rows of term(row, c)[w], for W terms at once.
template <int W, typename Term>
__global__ void columnPartialsKernel(long long rows, int channels, ColumnLayout layout, Term term, float *partials) {
  __shared__ float laneSums[gpu::kThreads * W];
  const int lane = threadIdx.x / layout.channelsPerBlock, local = threadIdx.x % layout.channelsPerBlock;
  const int c = blockIdx.y * layout.channelsPerBlock + local;
  const bool active = lane < layout.lanes && c < channels;
  const long long first = static_cast<long long>(blockIdx.x) * layout.chunkRows;
  const long long last = min(first + layout.chunkRows, rows);
  float sums[W] = {};
  if (active)
    for (long long r = first + lane; r < last; r += layout.lanes) {
      auto values = term(r, c);
      for (int w = 0; w < W; ++w)
        sums[w] += values.v[w];
    }
  for (int w = 0; w < W; ++w)
    laneSums[threadIdx.x * W + w] = sums[w];
  __syncthreads();
  if (lane != 0 || !active)
    return;
  for (int w = 0; w < W; ++w) {
    float total = 0.0f;
    for (int k = 0; k < layout.lanes; ++k)
      total += laneSums[(k * layout.channelsPerBlock + local) * W + w];
    partials[(blockIdx.x * static_cast<long long>(channels) + c) * W + w] = total;
  }
}

// finish(c, totals) with totals[w] = the double sum over chunks of partials[chunk][c][w]; block c.
template <int W, typename Finish>
__global__ void columnTotalsKernel(const float *partials, long long chunks, int channels, Finish finish) {
  __shared__ double sums[gpu::kThreads * W];
  const int c = blockIdx.x;
  double mine[W] = {};
  for (long long k = threadIdx.x; k < chunks; k += blockDim.x)
    for (int w = 0; w < W; ++w)
      mine[w] += partials[(k * channels + c) * W + w];
  for (int w = 0; w < W; ++w)
    sums[threadIdx.x * W + w] = mine[w];
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half)
      for (int w = 0; w < W; ++w)
        sums[threadIdx.x * W + w] += sums[(threadIdx.x + half) * W + w];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    finish(c, sums);
}

template <int W, typename Term, typename Finish>
void columnReduce(long long rows, int channels, Term term, Finish finish, CUstream stream, const char *what) {
  const ColumnLayout layout = columnLayout(rows, channels);
  DeviceBuffer partials(static_cast<size_t>(layout.chunks) * channels * W * sizeof(float), stream);
  auto s = gpu::runtimeStream(stream);
  columnPartialsKernel<W><<<dim3(static_cast<unsigned>(layout.chunks), layout.channelGroups), gpu::kThreads, 0, s>>>(
      rows, channels, layout, term, reinterpret_cast<float *>(partials.get()));
  gpu::checkLaunch(what);
  columnTotalsKernel<W><<<static_cast<unsigned>(channels), gpu::kThreads, 0, s>>>(
      reinterpret_cast<const float *>(partials.get()), layout.chunks, channels, finish);
  gpu::checkLaunch(what);
}

template <typename F> __global__ void forEachElementKernel(long long elements, F f) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < elements;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    f(i);
}

template <typename F> void forEachElement(long long elements, F f, CUstream stream, const char *what) {
  if (elements == 0)
    return;
  forEachElementKernel<<<gridFor(elements), gpu::kThreads, 0, gpu::runtimeStream(stream)>>>(elements, f);
  gpu::checkLaunch(what);
}

template <typename T> T *typed(CUdeviceptr p) { return reinterpret_cast<T *>(p); }
float *f32(CUdeviceptr p) { return reinterpret_cast<float *>(p); }

void requireShape(const char *op, long long rows, int channels) {
  if (rows < 0 || channels <= 0)
    throw RuntimeError(fmt::format("{}: invalid shape [{}, {}]", op, rows, channels));
}

void requirePointers(const char *op, std::initializer_list<std::pair<const char *, CUdeviceptr>> pointers) {
  for (auto [name, pointer] : pointers)
    if (!pointer)
      throw RuntimeError(fmt::format("{}: {} is null", op, name));
}

// Per element type, the bodies of the ops below.
template <typename T> void batchNormTrainingForwardTyped(const BatchNormTrainingArguments &a, CUstream stream) {
  const T *x = typed<const T>(a.x);
  const int channels = a.channels;
  const long long rows = a.rows;
  float *mean = f32(a.savedMean), *invStd = f32(a.savedInvStd);
  float *runningMean = f32(a.runningMean), *runningVar = f32(a.runningVar);
  const float eps = a.eps, momentum = a.momentum;
  columnReduce<1>(
      rows, channels, [=] __device__(long long r, int c) { return Terms<1>{{load(x, r * channels + c)}}; },
      [=] __device__(int c, const double *totals) { mean[c] = static_cast<float>(totals[0] / rows); }, stream,
      "batch norm mean");
  columnReduce<1>(
      rows, channels,
      [=] __device__(long long r, int c) {
        float d = load(x, r * channels + c) - mean[c];
        return Terms<1>{{d * d}};
      },
      [=] __device__(int c, const double *totals) {
        double variance = totals[0] / rows;
        invStd[c] = static_cast<float>(1.0 / sqrt(variance + eps));
        if (runningMean) {
          runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * mean[c];
          runningVar[c] =
              static_cast<float>((1.0 - momentum) * runningVar[c] + momentum * variance * rows / (rows - 1));
        }
      },
      stream, "batch norm variance");
  const float *gamma = f32(a.gamma), *beta = f32(a.beta);
  T *y = typed<T>(a.y);
  forEachElement(
      rows * channels,
      [=] __device__(long long i) {
        int c = static_cast<int>(i % channels);
        y[i] = store<T>(gamma[c] * (load(x, i) - mean[c]) * invStd[c] + beta[c]);
      },
      stream, "batch norm normalisation");
}

template <typename T> void batchNormBackwardTyped(const BatchNormBackwardArguments &a, CUstream stream) {
  const T *x = typed<const T>(a.x), *dy = typed<const T>(a.outputGrad);
  const int channels = a.channels;
  const long long rows = a.rows;
  const float *mean = f32(a.savedMean), *invStd = f32(a.savedInvStd), *gamma = f32(a.gamma);
  float *dgamma = f32(a.gammaGrad), *dbeta = f32(a.betaGrad);
  columnReduce<2>(
      rows, channels,
      [=] __device__(long long r, int c) {
        long long i = r * channels + c;
        float g = load(dy, i);
        return Terms<2>{{g, g * (load(x, i) - mean[c]) * invStd[c]}};
      },
      [=] __device__(int c, const double *totals) {
        dbeta[c] = static_cast<float>(totals[0]);
        dgamma[c] = static_cast<float>(totals[1]);
      },
      stream, "batch norm backward sums");
  T *dx = typed<T>(a.inputGrad);
  const float inverseRows = 1.0f / static_cast<float>(rows);
  forEachElement(
      rows * channels,
      [=] __device__(long long i) {
        int c = static_cast<int>(i % channels);
        float xhat = (load(x, i) - mean[c]) * invStd[c];
        float g = load(dy, i) - dbeta[c] * inverseRows - xhat * dgamma[c] * inverseRows;
        dx[i] = store<T>(gamma[c] * invStd[c] * g);
      },
      stream, "batch norm backward");
}

template <typename T>
void reluBackwardTyped(CUdeviceptr outputGrad, CUdeviceptr output, CUdeviceptr inputGrad, long long elements,
                       uint32_t dtype, CUstream stream) {
  const T *dy = typed<const T>(outputGrad), *y = typed<const T>(output);
  T *dx = typed<T>(inputGrad);
  forEachElement(
      elements, [=] __device__(long long i) { dx[i] = load(y, i) > 0.0f ? dy[i] : store<T>(0.0f); }, stream,
      "ReLU backward");
}

template <typename T>
void accumulateGradientTyped(CUdeviceptr sum, CUdeviceptr addend, long long elements, uint32_t dtype, CUstream stream) {
  T *s = typed<T>(sum);
  const T *b = typed<const T>(addend);
  forEachElement(
      elements, [=] __device__(long long i) { s[i] = store<T>(load(s, i) + load(b, i)); }, stream,
      "gradient accumulation");
}

template <typename T>
void biasGradientTyped(CUdeviceptr outputGrad, long long rows, int channels, CUdeviceptr biasGrad, CUstream stream) {
  const T *dy = typed<const T>(outputGrad);
  float *sums = f32(biasGrad);
  columnReduce<1>(
      rows, channels, [=] __device__(long long r, int c) { return Terms<1>{{load(dy, r * channels + c)}}; },
      [=] __device__(int c, const double *totals) { sums[c] = static_cast<float>(totals[0]); }, stream,
      "bias gradient");
}

// Row r's largest logit and the sum of exp(logit - largest), for a stable softmax.
struct SoftmaxRow {
  float top, sum;
};
template <typename T> __device__ SoftmaxRow softmaxRow(const T *logits, long long r, int classes) {
  float top = -INFINITY;
  for (int k = 0; k < classes; ++k)
    top = fmaxf(top, load(logits, r * classes + k));
  float sum = 0.0f;
  for (int k = 0; k < classes; ++k)
    sum += __expf(load(logits, r * classes + k) - top);
  return {top, sum};
}

template <typename T> void crossEntropyLossTyped(const CrossEntropyArguments &a, CUstream stream) {
  const T *logits = typed<const T>(a.logits);
  const int32_t *labels = typed<const int32_t>(a.labels);
  const int classes = a.classes;
  // Per row: log-sum-exp minus the label's logit, and whether the row counts.
  auto rowLoss = [=] __device__(long long r) {
    int label = labels[r];
    if (label < 0 || label >= classes)
      return Terms<2>{{0.0f, 0.0f}};
    auto [top, sum] = softmaxRow(logits, r, classes);
    return Terms<2>{{top + __logf(sum) - load(logits, r * classes + label), 1.0f}};
  };
  DeviceBuffer counted(sizeof(float), stream);
  float *loss = f32(a.loss), *count = f32(counted.get());
  columnReduce<2>(
      a.rows, 1, [=] __device__(long long r, int) { return rowLoss(r); },
      [=] __device__(int, const double *totals) {
        *count = static_cast<float>(totals[1]);
        *loss = totals[1] > 0 ? static_cast<float>(totals[0] / totals[1]) : 0.0f;
      },
      stream, "cross-entropy loss");
  T *grad = typed<T>(a.logitsGrad);
  const float lossScale = a.lossScale;
  forEachElement(
      a.rows,
      [=] __device__(long long r) {
        int label = labels[r];
        bool counts = label >= 0 && label < classes && *count > 0.0f;
        auto [top, sum] = softmaxRow(logits, r, classes);
        float factor = counts ? lossScale / *count : 0.0f;
        for (int k = 0; k < classes; ++k) {
          float p = __expf(load(logits, r * classes + k) - top) / sum;
          grad[r * classes + k] = store<T>(factor * (p - (k == label ? 1.0f : 0.0f)));
        }
      },
      stream, "cross-entropy gradient");
}

} // namespace

void batchNormTrainingForward(const BatchNormTrainingArguments &a, CUstream stream) {
  const char *op = "batch norm (training)";
  requireShape(op, a.rows, a.channels);
  if (a.rows < 2)
    throw RuntimeError(fmt::format("{}: {} rows; batch statistics need at least 2", op, a.rows));
  requirePointers(op, {{"x", a.x},
                       {"y", a.y},
                       {"gamma", a.gamma},
                       {"beta", a.beta},
                       {"savedMean", a.savedMean},
                       {"savedInvStd", a.savedInvStd}});
  gpu::withElementType(a.dtype, [&](auto element) { batchNormTrainingForwardTyped<decltype(element)>(a, stream); });
}

void batchNormBackward(const BatchNormBackwardArguments &a, CUstream stream) {
  const char *op = "batch norm backward";
  requireShape(op, a.rows, a.channels);
  requirePointers(op, {{"x", a.x},
                       {"outputGrad", a.outputGrad},
                       {"inputGrad", a.inputGrad},
                       {"gamma", a.gamma},
                       {"savedMean", a.savedMean},
                       {"savedInvStd", a.savedInvStd},
                       {"gammaGrad", a.gammaGrad},
                       {"betaGrad", a.betaGrad}});
  if (a.rows == 0)
    return;
  gpu::withElementType(a.dtype, [&](auto element) { batchNormBackwardTyped<decltype(element)>(a, stream); });
}

void reluBackward(CUdeviceptr outputGrad, CUdeviceptr output, CUdeviceptr inputGrad, long long elements, uint32_t dtype,
                  CUstream stream) {
  requirePointers("ReLU backward", {{"outputGrad", outputGrad}, {"output", output}, {"inputGrad", inputGrad}});
  gpu::withElementType(dtype, [&](auto element) {
    reluBackwardTyped<decltype(element)>(outputGrad, output, inputGrad, elements, dtype, stream);
  });
}

void accumulateGradient(CUdeviceptr sum, CUdeviceptr addend, long long elements, uint32_t dtype, CUstream stream) {
  requirePointers("gradient accumulation", {{"sum", sum}, {"addend", addend}});
  gpu::withElementType(
      dtype, [&](auto element) { accumulateGradientTyped<decltype(element)>(sum, addend, elements, dtype, stream); });
}

void biasGradient(CUdeviceptr outputGrad, long long rows, int channels, uint32_t dtype, CUdeviceptr biasGrad,
                  CUstream stream) {
  requireShape("bias gradient", rows, channels);
  requirePointers("bias gradient", {{"outputGrad", outputGrad}, {"biasGrad", biasGrad}});
  gpu::withElementType(
      dtype, [&](auto element) { biasGradientTyped<decltype(element)>(outputGrad, rows, channels, biasGrad, stream); });
}

void crossEntropyLoss(const CrossEntropyArguments &a, CUstream stream) {
  const char *op = "cross-entropy loss";
  requireShape(op, a.rows, a.classes);
  requirePointers(op, {{"logits", a.logits}, {"labels", a.labels}, {"loss", a.loss}, {"logitsGrad", a.logitsGrad}});
  gpu::withElementType(a.dtype, [&](auto element) { crossEntropyLossTyped<decltype(element)>(a, stream); });
}

namespace {

void requireOptimizer(const char *op, const OptimizerArguments &a, bool secondMoment) {
  if (a.count < 0 || a.lossScale <= 0.0f)
    throw RuntimeError(fmt::format("{}: {} parameters, loss scale {}", op, a.count, a.lossScale));
  requirePointers(op, {{"master", a.master}, {"grad", a.grad}, {"momentum", a.momentum}});
  if (secondMoment)
    requirePointers(op, {{"secondMoment", a.secondMoment}});
}

template <typename T, typename Update>
void optimizerStepTyped(const OptimizerArguments &a, Update update, CUstream stream, const char *what) {
  T *weights = typed<T>(a.weights);
  float *master = f32(a.master);
  forEachElement(
      a.count,
      [=] __device__(long long i) {
        master[i] = update(i, master[i]);
        if (weights)
          weights[i] = store<T>(master[i]);
      },
      stream, what);
}

// Writes the updated master parameter to the operand copy, when there is one.
template <typename Update>
void optimizerStep(const OptimizerArguments &a, Update update, CUstream stream, const char *what) {
  gpu::withElementType(a.weightType,
                       [&](auto element) { optimizerStepTyped<decltype(element), Update>(a, update, stream, what); });
}

} // namespace

void sgdMomentumStep(const OptimizerArguments &a, CUstream stream) {
  requireOptimizer("SGD step", a, false);
  const float *grad = f32(a.grad);
  float *m = f32(a.momentum);
  const float unscale = 1.0f / a.lossScale, lr = a.lr, decay = a.weightDecay, mu = a.momentumFactor;
  optimizerStep(
      a,
      [=] __device__(long long i, float p) {
        float g = grad[i] * unscale + decay * p;
        m[i] = mu * m[i] + g;
        return p - lr * m[i];
      },
      stream, "SGD step");
}

void adamWStep(const OptimizerArguments &a, CUstream stream) {
  requireOptimizer("AdamW step", a, true);
  if (a.step < 1)
    throw RuntimeError(fmt::format("AdamW step: step {} (the first step is 1)", a.step));
  const float *grad = f32(a.grad);
  float *m = f32(a.momentum), *v = f32(a.secondMoment);
  const float unscale = 1.0f / a.lossScale, lr = a.lr, decay = a.weightDecay, b1 = a.beta1, b2 = a.beta2, eps = a.eps;
  const float correction1 = 1.0f - static_cast<float>(std::pow(a.beta1, static_cast<double>(a.step)));
  const float correction2 = 1.0f - static_cast<float>(std::pow(a.beta2, static_cast<double>(a.step)));
  optimizerStep(
      a,
      [=] __device__(long long i, float p) {
        float g = grad[i] * unscale;
        p -= lr * decay * p;
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        return p - lr * (m[i] / correction1) / (sqrtf(v[i] / correction2) + eps);
      },
      stream, "AdamW step");
}

void countNonFinite(CUdeviceptr values, long long count, CUdeviceptr flag, CUstream stream) {
  requirePointers("non-finite count", {{"values", values}, {"flag", flag}});
  const float *x = f32(values);
  int *counter = typed<int>(flag);
  forEachElement(
      count,
      [=] __device__(long long i) {
        if (!isfinite(x[i]))
          atomicAdd(counter, 1);
      },
      stream, "non-finite count");
}

} // namespace sparsekgen
