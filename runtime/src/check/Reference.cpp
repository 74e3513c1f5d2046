#include "sparsekgen/Reference.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sparsekgen/BundleAbi.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

template <typename Element, typename Weight>
std::vector<double> convForwardIn64(const std::vector<Element> &input, const std::vector<Weight> &weight,
                                    const KernelMap &map, int inChannels, int outChannels) {
  if (input.size() != static_cast<size_t>(map.inputCount) * inChannels)
    throw RuntimeError(fmt::format("reference: input holds {} values, the map needs {} x {}", input.size(),
                                   map.inputCount, inChannels));
  if (weight.size() != static_cast<size_t>(map.volume) * inChannels * outChannels)
    throw RuntimeError(fmt::format("reference: weight holds {} values, expected {} x {} x {}", weight.size(),
                                   map.volume, inChannels, outChannels));
  std::vector<double> out(static_cast<size_t>(map.outputCount()) * outChannels, 0.0);
  std::vector<double> row(outChannels);
  for (int j = 0; j < map.outputCount(); ++j) {
    std::fill(row.begin(), row.end(), 0.0);
    for (int k = 0; k < map.volume; ++k) {
      int32_t i = map.at(j, k);
      if (i < 0)
        continue;
      const Element *in = &input[static_cast<size_t>(i) * inChannels];
      const Weight *w = &weight[static_cast<size_t>(k) * inChannels * outChannels];
      for (int ci = 0; ci < inChannels; ++ci) {
        double a = in[ci];
        const Weight *wRow = w + static_cast<size_t>(ci) * outChannels;
        for (int co = 0; co < outChannels; ++co)
          row[co] += a * static_cast<double>(wRow[co]);
      }
    }
    std::copy(row.begin(), row.end(), out.begin() + static_cast<ptrdiff_t>(j) * outChannels);
  }
  return out;
}

template <typename Element, typename Weight>
std::vector<double> convInputGradIn64(const std::vector<Element> &outputGrad, const std::vector<Weight> &weight,
                                           const KernelMap &map, int inChannels, int outChannels) {
  std::vector<double> inputGrad(static_cast<size_t>(map.inputCount) * inChannels, 0.0);
  for (int j = 0; j < map.outputCount(); ++j)
    for (int k = 0; k < map.volume; ++k) {
      int32_t i = map.at(j, k);
      if (i < 0)
        continue;
      const Element *dy = &outputGrad[static_cast<size_t>(j) * outChannels];
      double *dx = &inputGrad[static_cast<size_t>(i) * inChannels];
      for (int ci = 0; ci < inChannels; ++ci) {
        const Weight *w = &weight[(static_cast<size_t>(k) * inChannels + ci) * outChannels];
        double sum = 0.0;
        for (int co = 0; co < outChannels; ++co)
          sum += static_cast<double>(dy[co]) * w[co];
        dx[ci] += sum;
      }
    }
  return inputGrad;
}

template <typename Element>
std::vector<double> convWeightGradIn64(const std::vector<Element> &input, const std::vector<Element> &outputGrad,
                                            const KernelMap &map, int inChannels, int outChannels) {
  std::vector<double> weightGrad(static_cast<size_t>(map.volume) * inChannels * outChannels, 0.0);
  for (int j = 0; j < map.outputCount(); ++j)
    for (int k = 0; k < map.volume; ++k) {
      int32_t i = map.at(j, k);
      if (i < 0)
        continue;
      const Element *x = &input[static_cast<size_t>(i) * inChannels];
      const Element *dy = &outputGrad[static_cast<size_t>(j) * outChannels];
      for (int ci = 0; ci < inChannels; ++ci) {
        double *dw = &weightGrad[(static_cast<size_t>(k) * inChannels + ci) * outChannels];
        for (int co = 0; co < outChannels; ++co)
          dw[co] += static_cast<double>(x[ci]) * dy[co];
      }
    }
  return weightGrad;
}

} // namespace

std::vector<double> referenceConvForward(const std::vector<float> &input, const std::vector<float> &weight,
                                         const KernelMap &map, int inChannels, int outChannels) {
  return convForwardIn64(input, weight, map, inChannels, outChannels);
}

std::vector<double> referenceConvForward(const std::vector<double> &input, const std::vector<float> &weight,
                                         const KernelMap &map, int inChannels, int outChannels) {
  return convForwardIn64(input, weight, map, inChannels, outChannels);
}

std::vector<double> referenceConvInputGrad(const std::vector<float> &outputGrad, const std::vector<float> &weight,
                                           const KernelMap &map, int inChannels, int outChannels) {
  return convInputGradIn64(outputGrad, weight, map, inChannels, outChannels);
}

std::vector<double> referenceConvInputGrad(const std::vector<double> &outputGrad, const std::vector<float> &weight,
                                           const KernelMap &map, int inChannels, int outChannels) {
  return convInputGradIn64(outputGrad, weight, map, inChannels, outChannels);
}

std::vector<double> referenceConvForward(const std::vector<double> &input, const std::vector<double> &weight,
                                         const KernelMap &map, int inChannels, int outChannels) {
  return convForwardIn64(input, weight, map, inChannels, outChannels);
}

std::vector<double> referenceConvInputGrad(const std::vector<double> &outputGrad, const std::vector<double> &weight,
                                           const KernelMap &map, int inChannels, int outChannels) {
  return convInputGradIn64(outputGrad, weight, map, inChannels, outChannels);
}

std::vector<double> referenceConvWeightGrad(const std::vector<float> &input, const std::vector<float> &outputGrad,
                                            const KernelMap &map, int inChannels, int outChannels) {
  return convWeightGradIn64(input, outputGrad, map, inChannels, outChannels);
}

std::vector<double> referenceConvWeightGrad(const std::vector<double> &input, const std::vector<double> &outputGrad,
                                            const KernelMap &map, int inChannels, int outChannels) {
  return convWeightGradIn64(input, outputGrad, map, inChannels, outChannels);
}

uint32_t epilogueOpFromName(const std::string &name) {
  if (auto op = findSpelling(epilogueOpSpellings(), name))
    return *op;
  throw RuntimeError(fmt::format("unknown epilogue op '{}' (expected {})", name, fmt::join(epilogueOpSpellings(), ", ")));
}

void applyEpilogueReference(std::vector<double> &values, int outChannels, const EpilogueReference &epilogue) {
  for (size_t i = 0; i < values.size(); ++i) {
    size_t c = i % static_cast<size_t>(outChannels);
    double v = values[i];
    for (uint32_t op : epilogue.ops) {
      switch (op) {
      case SKG_EPILOGUE_BIAS:
        v += epilogue.bias.at(c);
        break;
      case SKG_EPILOGUE_SCALE_SHIFT:
        v = v * epilogue.scale.at(c) + epilogue.shift.at(c);
        break;
      case SKG_EPILOGUE_RELU:
        v = v > 0.0 ? v : 0.0;
        break;
      case SKG_EPILOGUE_RESIDUAL_ADD:
        v += epilogue.residual.at(i);
        break;
      default:
        throw RuntimeError(fmt::format("unknown epilogue op {}", op));
      }
    }
    values[i] = v;
  }
}

double relativeError(const std::vector<float> &actual, const std::vector<double> &expected) {
  if (actual.size() != expected.size())
    throw RuntimeError(fmt::format("relativeError: {} values against {}", actual.size(), expected.size()));
  double difference = 0.0, reference = 0.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (!std::isfinite(actual[i]))
      return std::numeric_limits<double>::infinity();
    double d = actual[i] - expected[i];
    difference += d * d;
    reference += expected[i] * expected[i];
  }
  return reference == 0.0 ? std::sqrt(difference) : std::sqrt(difference / reference);
}

} // namespace sparsekgen
