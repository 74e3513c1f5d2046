#include "sparsekgen/BackwardVerification.h"

#include <cmath>
#include <random>

#include "sparsekgen/ElementTypes.h"

namespace sparsekgen {

std::vector<double> ConvBackwardProblem::inputGradReference() const {
  return referenceConvInputGrad(outputGrad, weight, map, inChannels, outChannels);
}

std::vector<double> ConvBackwardProblem::weightGradReference() const {
  return referenceConvWeightGrad(input, outputGrad, map, inChannels, outChannels);
}

ConvBackwardProblem makeConvBackwardProblem(const std::vector<Coordinate> &coordinates, const ConvGeometry &geometry,
                                            int inChannels, int outChannels, uint32_t seed, uint32_t operand) {
  ConvBackwardProblem problem =
      makeConvBackwardProblem(buildKernelMapCpu(coordinates, geometry), inChannels, outChannels, seed, operand);
  problem.transposed.outputs = coordinates;
  return problem;
}

ConvBackwardProblem makeConvBackwardProblem(KernelMap map, int inChannels, int outChannels, uint32_t seed,
                                            uint32_t operand) {
  // The forward problem's draws give x and W; dy is drawn the same way, in [-1, 1].
  ConvProblem forward = makeConvProblem(std::move(map), inChannels, outChannels, seed, ConvTypes{operand, operand, {}});
  ConvBackwardProblem problem;
  problem.transposed = transposedKernelMapCpu(forward.map, std::vector<Coordinate>(forward.map.inputCount));
  problem.map = std::move(forward.map);
  problem.inChannels = inChannels;
  problem.outChannels = outChannels;
  problem.operand = operand;
  problem.input = std::move(forward.input);
  problem.weight = std::move(forward.weight);
  std::mt19937 random(seed + 1);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  problem.outputGrad.resize(static_cast<size_t>(problem.map.outputCount()) * outChannels);
  for (auto &value : problem.outputGrad)
    value = roundToElement(unit(random), operand);
  return problem;
}

DeviceConvBackwardProblem uploadConvBackwardProblem(const ConvBackwardProblem &problem) {
  DeviceConvBackwardProblem device;
  device.problem = &problem;
  device.input = DeviceBuffer::from(encodeElements(problem.input, problem.operand));
  device.weight = DeviceBuffer::from(encodeElements(problem.weight, problem.operand));
  device.outputGrad = DeviceBuffer::from(encodeElements(problem.outputGrad, problem.operand));
  device.weightGrad = DeviceBuffer(problem.weight.size() * sizeof(float));
  device.transposedMap = DeviceBuffer::from(problem.transposed.outInMap);
  auto extras = kernelMapExtrasCpu(problem.map, 1, 1);
  device.pairOffsets = extras.pairOffsets;
  device.pairInputs = DeviceBuffer::from(extras.pairInputs);
  device.pairOutputs = DeviceBuffer::from(extras.pairOutputs);
  auto &a = device.args;
  a.input = device.input.get();
  a.weight = device.weight.get();
  a.outputGrad = device.outputGrad.get();
  a.weightGrad = device.weightGrad.get();
  a.inputs = problem.map.inputCount;
  a.outputs = problem.map.outputCount();
  a.inChannels = problem.inChannels;
  a.outChannels = problem.outChannels;
  a.kernelVolume = problem.map.volume;
  a.transposedMap = device.transposedMap.get();
  a.pairInputs = device.pairInputs.get();
  a.pairOutputs = device.pairOutputs.get();
  a.pairOffsets = device.pairOffsets;
  return device;
}

ConvBackwardArguments backwardArgumentsFor(DeviceConvBackwardProblem &problem, const skg_kernel_record &kernel,
                                           int splits) {
  ConvBackwardArguments args = problem.args;
  if (kernel.operation != SKG_INPUT_GRAD)
    return args;
  const ConvBackwardProblem &p = *problem.problem;
  auto &inputGrad = problem.inputGrads[kernel.output_type];
  if (!inputGrad.get())
    inputGrad = DeviceBuffer(static_cast<size_t>(p.map.inputCount) * p.inChannels * elementBytes(kernel.output_type));
  args.inputGrad = inputGrad.get();
  const DataflowInfo &info = dataflowInfo(kernel.dataflow);
  if (info.extras != MapExtras::SortInputs)
    return args;
  int s = info.splitsFor(splits, p.map.volume);
  int tileRows = static_cast<int>(mainFunction(kernel).rows_per_block);
  auto key = std::make_pair(s, tileRows);
  auto it = problem.sortInputs.find(key);
  if (it == problem.sortInputs.end()) {
    auto extras = kernelMapExtrasCpu(p.transposed, s, tileRows);
    it = problem.sortInputs
             .emplace(key, std::make_pair(DeviceBuffer::from(extras.splitPermutations), DeviceBuffer::from(extras.tileMasks)))
             .first;
  }
  args.transposedPermutation = it->second.first.get();
  args.transposedTileMasks = it->second.second.get();
  args.transposedMaskWords = groupMaskWordCount(p.map.volume, s);
  args.inputGradSplits = s;
  return args;
}

namespace {

DeviceBuffer &writtenGradient(const skg_kernel_record &kernel, DeviceConvBackwardProblem &problem) {
  return kernel.operation == SKG_INPUT_GRAD ? problem.inputGrads.at(kernel.output_type) : problem.weightGrad;
}

} // namespace

std::vector<float> runBackwardForOutput(Context &context, const skg_kernel_record &kernel,
                                        DeviceConvBackwardProblem &problem, int splits) {
  const bool inputGrad = kernel.operation == SKG_INPUT_GRAD;
  ConvBackwardArguments args = backwardArgumentsFor(problem, kernel, inputGrad && splits > 0 ? splits : 3);
  args.weightGradSplits = inputGrad ? 0 : splits;
  DeviceBuffer &written = writtenGradient(kernel, problem);
  written.fill(0xFF); // a NaN in fp16, bf16 and fp32
  convBackward(context, inputGrad ? &kernel : nullptr, inputGrad ? nullptr : &kernel, args);
  context.synchronize(kernel.name);
  return decodeElements(written.download<uint8_t>(), inputGrad ? kernel.output_type : SKG_F32);
}

ConvCheck runBackwardAndCheck(Context &context, const skg_kernel_record &kernel, DeviceConvBackwardProblem &problem,
                              const std::vector<double> &reference, int weightGradSplits, std::vector<float> *output) {
  const bool inputGrad = kernel.operation == SKG_INPUT_GRAD;
  std::vector<float> values = runBackwardForOutput(context, kernel, problem, inputGrad ? 0 : weightGradSplits);
  const ConvBackwardProblem &p = *problem.problem;
  const int rows = inputGrad ? p.map.inputCount : p.map.volume * p.inChannels;
  const int columns = inputGrad ? p.inChannels : p.outChannels;
  ConvCheck check;
  check.unwrittenRows =
      countNonFiniteRows(writtenGradient(kernel, problem).get(), rows, columns, inputGrad ? kernel.output_type : SKG_F32);
  check.relativeError = relativeError(values, reference);
  if (output)
    *output = std::move(values);
  return check;
}

} // namespace sparsekgen
