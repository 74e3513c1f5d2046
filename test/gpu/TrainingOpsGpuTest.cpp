// The training ops against their float64 references, in every element type: batch norm with batch
// statistics forward and backward (and its bit-identical repeat), ReLU backward, gradient
// accumulation, cross-entropy with ignored labels, SGD with momentum and AdamW over several steps,
// the non-finite count of loss scaling.
#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/Reference.h"
#include "sparsekgen/TrainingOps.h"
#include "sparsekgen/TrainingReference.h"
#include "TestContext.h"

namespace sparsekgen {
namespace {

using testclouds::context;

// Values representable in `dtype`, uniform in [low, high].
std::vector<float> draw(size_t count, uint32_t dtype, uint32_t seed, float low = -1.0f, float high = 1.0f) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(low, high);
  std::vector<float> values(count);
  for (auto &v : values)
    v = roundToElement(uniform(random), dtype);
  return values;
}

DeviceBuffer upload(const std::vector<float> &values, uint32_t dtype) {
  return DeviceBuffer::from(encodeElements(values, dtype));
}
std::vector<float> downloadAs(const DeviceBuffer &buffer, uint32_t dtype) {
  return decodeElements(buffer.download<uint8_t>(), dtype);
}

// Relative error of an output rounded to `dtype` (about 2^-11 for fp16, 2^-8 for bf16), with f32
// arithmetic inside the ops.
double toleranceOf(uint32_t dtype) { return dtype == SKG_F32 ? 1e-5 : dtype == SKG_BF16 ? 1e-2 : 2e-3; }

class EveryElementType : public ::testing::TestWithParam<uint32_t> {};

TEST_P(EveryElementType, BatchNormWithBatchStatisticsMatchesFloat64) {
  const uint32_t dtype = GetParam();
  context();
  const long long rows = 10001; // not a multiple of the 512-row chunks
  const int channels = 48;
  auto x = draw(rows * channels, dtype, 1, 0.5f, 2.5f); // a mean far from 0
  auto gamma = draw(channels, SKG_F32, 2, 0.5f, 1.5f), beta = draw(channels, SKG_F32, 3);
  auto dy = draw(rows * channels, dtype, 4);
  const float eps = 1e-5f, momentum = 0.1f;
  DeviceBuffer dx_(upload(x, dtype)), y(rows * channels * elementBytes(dtype)), g(DeviceBuffer::from(gamma)),
      b(DeviceBuffer::from(beta)), mean(channels * 4), invStd(channels * 4),
      runningMean(DeviceBuffer::from(std::vector<float>(channels, 0.0f))),
      runningVar(DeviceBuffer::from(std::vector<float>(channels, 1.0f)));
  y.fill(0xFF);
  BatchNormTrainingArguments forward{dx_.get(), y.get(), g.get(), b.get(), mean.get(), invStd.get(),
                                     runningMean.get(), runningVar.get(), rows, channels, dtype, eps, momentum};
  batchNormTrainingForward(forward, nullptr);
  context().synchronize("batch norm forward");
  auto reference = referenceBatchNormTraining(x, rows, channels, gamma, beta, eps);
  EXPECT_LE(relativeError(downloadAs(y, dtype), reference.y), toleranceOf(dtype));
  EXPECT_LE(relativeError(mean.download<float>(), reference.mean), 1e-6);
  std::vector<double> expectedRunningMean(channels), expectedRunningVar(channels), expectedInvStd(channels);
  for (int c = 0; c < channels; ++c) {
    expectedInvStd[c] = 1.0 / std::sqrt(reference.var[c] + eps);
    expectedRunningMean[c] = momentum * reference.mean[c];
    expectedRunningVar[c] = (1 - momentum) + momentum * reference.var[c] * rows / (rows - 1);
  }
  EXPECT_LE(relativeError(invStd.download<float>(), expectedInvStd), 1e-5);
  EXPECT_LE(relativeError(runningMean.download<float>(), expectedRunningMean), 1e-6);
  EXPECT_LE(relativeError(runningVar.download<float>(), expectedRunningVar), 1e-5);

  DeviceBuffer dyBuffer(upload(dy, dtype)), dx(rows * channels * elementBytes(dtype)), dgamma(channels * 4),
      dbeta(channels * 4);
  dx.fill(0xFF);
  BatchNormBackwardArguments backward{dx_.get(), dyBuffer.get(), dx.get(), g.get(), mean.get(), invStd.get(),
                                      dgamma.get(), dbeta.get(), rows, channels, dtype};
  batchNormBackward(backward, nullptr);
  context().synchronize("batch norm backward");
  auto grads = referenceBatchNormBackward(x, dy, rows, channels, gamma, eps);
  // dx subtracts two means from dy: its error is the output rounding relative to what remains.
  EXPECT_LE(relativeError(downloadAs(dx, dtype), grads.inputGrad), 4 * toleranceOf(dtype));
  EXPECT_LE(relativeError(dgamma.download<float>(), grads.gammaGrad), 1e-4);
  EXPECT_LE(relativeError(dbeta.download<float>(), grads.betaGrad), 1e-5);
  // Fixed-order reductions: the same input gives the same bits.
  auto first = dgamma.download<float>();
  batchNormBackward(backward, nullptr);
  context().synchronize("batch norm backward");
  auto second = dgamma.download<float>();
  EXPECT_EQ(std::memcmp(first.data(), second.data(), first.size() * 4), 0);
}

TEST_P(EveryElementType, ReluBackwardAndGradientAccumulation) {
  const uint32_t dtype = GetParam();
  context();
  const long long elements = 70001;
  auto y = draw(elements, dtype, 5), dy = draw(elements, dtype, 6), other = draw(elements, dtype, 7);
  for (size_t i = 0; i < y.size(); i += 3)
    y[i] = std::max(y[i], 0.0f); // zeros and positives
  DeviceBuffer yb(upload(y, dtype)), dyb(upload(dy, dtype)), dx(elements * elementBytes(dtype)), ob(upload(other, dtype));
  reluBackward(dyb.get(), yb.get(), dx.get(), elements, dtype, nullptr);
  accumulateGradient(dyb.get(), ob.get(), elements, dtype, nullptr);
  context().synchronize("ReLU backward");
  auto dxValues = downloadAs(dx, dtype), sums = downloadAs(dyb, dtype);
  std::vector<double> expectedSums(elements);
  for (long long i = 0; i < elements; ++i) {
    ASSERT_EQ(dxValues[i], y[i] > 0 ? dy[i] : 0.0f) << i;
    expectedSums[i] = static_cast<double>(dy[i]) + other[i];
  }
  EXPECT_LE(relativeError(sums, expectedSums), toleranceOf(dtype));
}

TEST_P(EveryElementType, CrossEntropyIgnoresLabelsOutsideTheClasses) {
  const uint32_t dtype = GetParam();
  context();
  const long long rows = 5003;
  const int classes = 7;
  auto logits = draw(rows * classes, dtype, 8, -4.0f, 4.0f);
  std::vector<int32_t> labels(rows);
  std::mt19937 random(9);
  for (auto &label : labels)
    label = static_cast<int32_t>(random() % (classes + 1)) - (random() % 10 == 0 ? classes + 1 : 0); // some ignored
  const float lossScale = 128.0f;
  DeviceBuffer lb(upload(logits, dtype)), lab(DeviceBuffer::from(labels)), loss(4), grad(rows * classes * elementBytes(dtype));
  crossEntropyLoss({lb.get(), lab.get(), loss.get(), grad.get(), rows, classes, dtype, lossScale}, nullptr);
  context().synchronize("cross-entropy");
  auto reference = referenceCrossEntropy(logits, labels, classes);
  EXPECT_NEAR(loss.download<float>()[0], reference.loss, 1e-5 * reference.loss);
  for (auto &g : reference.logitsGrad)
    g *= lossScale;
  EXPECT_LE(relativeError(downloadAs(grad, dtype), reference.logitsGrad), 2 * toleranceOf(dtype));
}

TEST_P(EveryElementType, SgdAndAdamWStepsMatchFloat64) {
  const uint32_t weightType = GetParam();
  context();
  const long long count = 9999;
  auto master = draw(count, SKG_F32, 10), momentum = std::vector<float>(count, 0.0f);
  const float lossScale = 1024.0f, lr = 0.05f, decay = 0.01f;
  for (bool adam : {false, true}) {
    DeviceBuffer p(DeviceBuffer::from(master)), m(DeviceBuffer::from(momentum)), v(DeviceBuffer::from(momentum)),
        weights(count * elementBytes(weightType));
    std::vector<double> ep(master.begin(), master.end()), em(count, 0.0), ev(count, 0.0);
    for (long long step = 1; step <= 3; ++step) {
      auto grad = draw(count, SKG_F32, 20 + static_cast<uint32_t>(step), -lossScale, lossScale);
      DeviceBuffer g(DeviceBuffer::from(grad));
      OptimizerArguments args{p.get(), g.get(), weights.get(), m.get(), v.get(), count, weightType, lr, lossScale, decay};
      args.step = step;
      adam ? adamWStep(args, nullptr) : sgdMomentumStep(args, nullptr);
      for (long long i = 0; i < count; ++i) {
        double gi = grad[i] / static_cast<double>(lossScale);
        if (adam) {
          ep[i] -= lr * decay * ep[i];
          em[i] = 0.9 * em[i] + 0.1 * gi;
          ev[i] = 0.999 * ev[i] + 0.001 * gi * gi;
          ep[i] -= lr * (em[i] / (1 - std::pow(0.9, step))) / (std::sqrt(ev[i] / (1 - std::pow(0.999, step))) + 1e-8);
        } else {
          em[i] = 0.9 * em[i] + gi + decay * ep[i];
          ep[i] -= lr * em[i];
        }
      }
    }
    context().synchronize("optimizer");
    EXPECT_LE(relativeError(p.download<float>(), ep), 1e-5) << (adam ? "AdamW" : "SGD");
    EXPECT_LE(relativeError(downloadAs(weights, weightType), ep), toleranceOf(weightType)) << (adam ? "AdamW" : "SGD");
  }
}

INSTANTIATE_TEST_SUITE_P(TrainingOps, EveryElementType, ::testing::Values(SKG_F16, SKG_BF16, SKG_F32),
                         [](const ::testing::TestParamInfo<uint32_t> &info) {
                           return std::string(info.param == SKG_F16 ? "f16" : info.param == SKG_BF16 ? "bf16" : "f32");
                         });

TEST(TrainingOps, NonFiniteValuesAreCounted) {
  context();
  std::vector<float> values(1000, 1.0f);
  values[17] = NAN;
  values[400] = INFINITY;
  values[999] = -INFINITY;
  DeviceBuffer v(DeviceBuffer::from(values)), flag(DeviceBuffer::from(std::vector<int32_t>{0}));
  countNonFinite(v.get(), 1000, flag.get(), nullptr);
  context().synchronize("non-finite count");
  EXPECT_EQ(flag.download<int32_t>()[0], 3);
}

TEST(TrainingOps, BadShapesAreRefusedBeforeAnyLaunch) {
  BatchNormTrainingArguments args;
  args.rows = 1;
  args.channels = 8;
  EXPECT_THROW(batchNormTrainingForward(args, nullptr), RuntimeError);
  OptimizerArguments optimizer;
  optimizer.count = 10;
  EXPECT_THROW(sgdMomentumStep(optimizer, nullptr), RuntimeError); // null tensors
}

} // namespace
} // namespace sparsekgen
