// Float64 CPU references of the training ops (TrainingOps.h), from the values the GPU ops read
// (float overloads) or from a float64 network run (double overloads).
#pragma once

#include <cstdint>
#include <vector>

namespace sparsekgen {

struct BatchNormReference {
  std::vector<double> y;          // [rows, channels]
  std::vector<double> mean, var;  // [channels], var biased
};
BatchNormReference referenceBatchNormTraining(const std::vector<float> &x, long long rows, int channels,
                                              const std::vector<float> &gamma, const std::vector<float> &beta,
                                              double eps);
BatchNormReference referenceBatchNormTraining(const std::vector<double> &x, long long rows, int channels,
                                              const std::vector<float> &gamma, const std::vector<float> &beta,
                                              double eps);

struct BatchNormGradReference {
  std::vector<double> inputGrad;             // [rows, channels]
  std::vector<double> gammaGrad, betaGrad;   // [channels]
};
BatchNormGradReference referenceBatchNormBackward(const std::vector<float> &x, const std::vector<float> &outputGrad,
                                                  long long rows, int channels, const std::vector<float> &gamma,
                                                  double eps);
BatchNormGradReference referenceBatchNormBackward(const std::vector<double> &x, const std::vector<double> &outputGrad,
                                                  long long rows, int channels, const std::vector<float> &gamma,
                                                  double eps);

struct CrossEntropyReference {
  double loss = 0;
  std::vector<double> logitsGrad; // [rows, classes], unscaled
};
// Labels outside [0, classes) are ignored (TrainingOps.h crossEntropyLoss).
CrossEntropyReference referenceCrossEntropy(const std::vector<float> &logits, const std::vector<int32_t> &labels,
                                            int classes);
CrossEntropyReference referenceCrossEntropy(const std::vector<double> &logits, const std::vector<int32_t> &labels,
                                            int classes);

} // namespace sparsekgen
