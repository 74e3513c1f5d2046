#include "sparsekgen/TrainingReference.h"

#include <algorithm>
#include <cmath>

namespace sparsekgen {

namespace {

// Per channel: the mean and biased variance of x's column.
template <typename Element>
void columnMoments(const std::vector<Element> &x, long long rows, int channels, std::vector<double> &mean,
                   std::vector<double> &var) {
  mean.assign(channels, 0.0);
  var.assign(channels, 0.0);
  for (long long r = 0; r < rows; ++r)
    for (int c = 0; c < channels; ++c)
      mean[c] += x[r * channels + c];
  for (auto &m : mean)
    m /= static_cast<double>(rows);
  for (long long r = 0; r < rows; ++r)
    for (int c = 0; c < channels; ++c) {
      double d = x[r * channels + c] - mean[c];
      var[c] += d * d;
    }
  for (auto &v : var)
    v /= static_cast<double>(rows);
}

template <typename Element>
BatchNormReference batchNormTrainingIn64(const std::vector<Element> &x, long long rows, int channels,
                                              const std::vector<float> &gamma, const std::vector<float> &beta,
                                              double eps) {
  BatchNormReference out;
  columnMoments(x, rows, channels, out.mean, out.var);
  out.y.resize(x.size());
  for (long long r = 0; r < rows; ++r)
    for (int c = 0; c < channels; ++c) {
      long long i = r * channels + c;
      out.y[i] = gamma[c] * (x[i] - out.mean[c]) / std::sqrt(out.var[c] + eps) + beta[c];
    }
  return out;
}

template <typename Element>
BatchNormGradReference batchNormBackwardIn64(const std::vector<Element> &x, const std::vector<Element> &outputGrad,
                                                  long long rows, int channels, const std::vector<float> &gamma,
                                                  double eps) {
  std::vector<double> mean, var;
  columnMoments(x, rows, channels, mean, var);
  BatchNormGradReference out;
  out.gammaGrad.assign(channels, 0.0);
  out.betaGrad.assign(channels, 0.0);
  auto xhat = [&](long long i, int c) { return (x[i] - mean[c]) / std::sqrt(var[c] + eps); };
  for (long long r = 0; r < rows; ++r)
    for (int c = 0; c < channels; ++c) {
      long long i = r * channels + c;
      out.betaGrad[c] += outputGrad[i];
      out.gammaGrad[c] += outputGrad[i] * xhat(i, c);
    }
  out.inputGrad.resize(x.size());
  for (long long r = 0; r < rows; ++r)
    for (int c = 0; c < channels; ++c) {
      long long i = r * channels + c;
      double g = outputGrad[i] - out.betaGrad[c] / rows - xhat(i, c) * out.gammaGrad[c] / rows;
      out.inputGrad[i] = gamma[c] / std::sqrt(var[c] + eps) * g;
    }
  return out;
}

template <typename Element>
CrossEntropyReference crossEntropyIn64(const std::vector<Element> &logits, const std::vector<int32_t> &labels,
                                            int classes) {
  CrossEntropyReference out;
  out.logitsGrad.assign(logits.size(), 0.0);
  long long counted = 0;
  for (int32_t label : labels)
    counted += label >= 0 && label < classes;
  for (size_t r = 0; r < labels.size(); ++r) {
    int32_t label = labels[r];
    if (label < 0 || label >= classes)
      continue;
    const Element *row = &logits[r * classes];
    double top = row[0];
    for (int k = 1; k < classes; ++k)
      top = std::max(top, static_cast<double>(row[k]));
    double sum = 0;
    for (int k = 0; k < classes; ++k)
      sum += std::exp(row[k] - top);
    out.loss += top + std::log(sum) - row[label];
    for (int k = 0; k < classes; ++k)
      out.logitsGrad[r * classes + k] = (std::exp(row[k] - top) / sum - (k == label)) / counted;
  }
  if (counted > 0)
    out.loss /= counted;
  return out;
}

} // namespace

BatchNormReference referenceBatchNormTraining(const std::vector<float> &x, long long rows, int channels,
                                              const std::vector<float> &gamma, const std::vector<float> &beta,
                                              double eps) {
  return batchNormTrainingIn64(x, rows, channels, gamma, beta, eps);
}

BatchNormReference referenceBatchNormTraining(const std::vector<double> &x, long long rows, int channels,
                                              const std::vector<float> &gamma, const std::vector<float> &beta,
                                              double eps) {
  return batchNormTrainingIn64(x, rows, channels, gamma, beta, eps);
}

BatchNormGradReference referenceBatchNormBackward(const std::vector<float> &x, const std::vector<float> &outputGrad,
                                                  long long rows, int channels, const std::vector<float> &gamma,
                                                  double eps) {
  return batchNormBackwardIn64(x, outputGrad, rows, channels, gamma, eps);
}

BatchNormGradReference referenceBatchNormBackward(const std::vector<double> &x, const std::vector<double> &outputGrad,
                                                  long long rows, int channels, const std::vector<float> &gamma,
                                                  double eps) {
  return batchNormBackwardIn64(x, outputGrad, rows, channels, gamma, eps);
}

CrossEntropyReference referenceCrossEntropy(const std::vector<float> &logits, const std::vector<int32_t> &labels,
                                            int classes) {
  return crossEntropyIn64(logits, labels, classes);
}

CrossEntropyReference referenceCrossEntropy(const std::vector<double> &logits, const std::vector<int32_t> &labels,
                                            int classes) {
  return crossEntropyIn64(logits, labels, classes);
}

} // namespace sparsekgen
