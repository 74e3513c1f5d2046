#include "sparsekgen/Verification.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "sparsekgen/Half.h"
#include "sparsekgen/Reference.h"

namespace sparsekgen {

std::vector<double> ConvProblem::reference() const {
  return referenceConvForward(halvesToFloats(input), halvesToFloats(weight), map, inChannels, outChannels);
}

ConvProblem makeConvProblem(const std::vector<Coordinate> &coordinates, const ConvGeometry &geometry,
                            int inChannels, int outChannels, uint32_t seed) {
  ConvProblem problem;
  problem.map = buildKernelMapCpu(coordinates, geometry);
  problem.inChannels = inChannels;
  problem.outChannels = outChannels;
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  problem.input.resize(static_cast<size_t>(problem.map.inputCount) * inChannels);
  for (auto &value : problem.input)
    value = floatToHalf(unit(random));
  float scale = 1.0f / std::sqrt(static_cast<float>(problem.map.volume) * inChannels / 4.0f);
  problem.weight.resize(static_cast<size_t>(problem.map.volume) * inChannels * outChannels);
  for (auto &value : problem.weight)
    value = floatToHalf(unit(random) * scale);
  return problem;
}

DeviceConvProblem uploadConvProblem(const ConvProblem &problem) {
  DeviceConvProblem device{DeviceBuffer::from(problem.input), DeviceBuffer::from(problem.weight),
                           DeviceBuffer::from(problem.map.outInMap),
                           DeviceBuffer(static_cast<size_t>(problem.map.outputCount()) * problem.outChannels * 2),
                           {}};
  device.args = {device.input.get(),       device.weight.get(),       device.outInMap.get(),
                 device.output.get(),      problem.map.inputCount,    problem.map.outputCount(),
                 problem.inChannels,       problem.outChannels,       problem.map.volume};
  return device;
}

ConvCheck runAndCheck(Context &context, const skg_kernel_record &kernel, DeviceConvProblem &problem,
                      const std::vector<double> &reference) {
  problem.output.fill(0xFF); // fp16 0xFFFF is a NaN
  convForward(context, kernel, problem.args);
  context.synchronize(kernel.name);
  ConvCheck check;
  check.unwrittenRows = countNonFiniteRows(problem.output.get(), problem.args.outputs, problem.args.outChannels);
  check.relativeError = relativeError(halvesToFloats(problem.output.download<uint16_t>()), reference);
  return check;
}

double medianOfEventTimes(const std::vector<float> &milliseconds) {
  if (milliseconds.empty())
    return 0.0;
  std::vector<float> sorted = milliseconds;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

} // namespace sparsekgen
