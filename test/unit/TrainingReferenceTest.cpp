// The host side of training: the dynamic loss scale's rules, and the float64 references of the
// training ops on cases small enough to work out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "sparsekgen/DynamicLossScale.h"
#include "sparsekgen/TrainingReference.h"

namespace sparsekgen {
namespace {

TEST(DynamicLossScale, HalvesOnOverflowAndDoublesAfterCleanSteps) {
  DynamicLossScale scale(1024.0f, 3, 4096.0f);
  EXPECT_FALSE(scale.update(true)); // skipped
  EXPECT_EQ(scale.scale(), 512.0f);
  EXPECT_TRUE(scale.update(false));
  EXPECT_TRUE(scale.update(false));
  EXPECT_EQ(scale.scale(), 512.0f);
  EXPECT_TRUE(scale.update(false)); // third clean step in a row
  EXPECT_EQ(scale.scale(), 1024.0f);
  for (int i = 0; i < 30; ++i)
    scale.update(false);
  EXPECT_EQ(scale.scale(), 4096.0f); // capped
  for (int i = 0; i < 30; ++i)
    scale.update(true);
  EXPECT_EQ(scale.scale(), 1.0f); // never below 1
}

TEST(TrainingReference, BatchNormOfTwoRows) {
  // Column values 1 and 3: mean 2, biased variance 1, so xhat = -1, +1 (eps 0).
  auto forward = referenceBatchNormTraining(std::vector<float>{1.0f, 3.0f}, 2, 1, {2.0f}, {0.5f}, 0.0);
  EXPECT_DOUBLE_EQ(forward.mean[0], 2.0);
  EXPECT_DOUBLE_EQ(forward.var[0], 1.0);
  EXPECT_DOUBLE_EQ(forward.y[0], -1.5);
  EXPECT_DOUBLE_EQ(forward.y[1], 2.5);
  // dy = (1, 1): dbeta = 2, dgamma = sum dy * xhat = 0, dx = 0 (a shift of every input changes nothing).
  auto backward = referenceBatchNormBackward(std::vector<float>{1.0f, 3.0f}, std::vector<float>{1.0f, 1.0f}, 2, 1, {2.0f}, 0.0);
  EXPECT_DOUBLE_EQ(backward.betaGrad[0], 2.0);
  EXPECT_DOUBLE_EQ(backward.gammaGrad[0], 0.0);
  EXPECT_DOUBLE_EQ(backward.inputGrad[0], 0.0);
  EXPECT_DOUBLE_EQ(backward.inputGrad[1], 0.0);
}

TEST(TrainingReference, CrossEntropyOfUniformLogits) {
  // Two classes with equal logits: loss log 2; gradient (1/2 - onehot) / counted rows. The second
  // row's label is ignored.
  auto reference = referenceCrossEntropy(std::vector<float>{0.0f, 0.0f, 5.0f, -5.0f}, {1, -1}, 2);
  EXPECT_NEAR(reference.loss, std::log(2.0), 1e-12);
  EXPECT_NEAR(reference.logitsGrad[0], 0.5, 1e-12);
  EXPECT_NEAR(reference.logitsGrad[1], -0.5, 1e-12);
  EXPECT_EQ(reference.logitsGrad[2], 0.0);
  EXPECT_EQ(reference.logitsGrad[3], 0.0);
}

} // namespace
} // namespace sparsekgen
