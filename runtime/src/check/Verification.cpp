#include "sparsekgen/Verification.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "sparsekgen/ElementTypes.h"

namespace sparsekgen {

ConvTypes convTypesOf(const skg_kernel_record &kernel) {
  ConvTypes types{kernel.operand_type, kernel.output_type, {}};
  types.epilogueOps.assign(kernel.epilogue_ops, kernel.epilogue_ops + kernel.epilogue_op_count);
  return types;
}

std::vector<double> ConvProblem::reference() const {
  auto out = referenceConvForward(input, weight, map, inChannels, outChannels);
  applyEpilogueReference(out, outChannels, epilogue);
  return out;
}

ConvProblem makeConvProblem(const std::vector<Coordinate> &coordinates, const ConvGeometry &geometry,
                            int inChannels, int outChannels, uint32_t seed, const ConvTypes &types) {
  return makeConvProblem(buildKernelMapCpu(coordinates, geometry), inChannels, outChannels, seed, types);
}

ConvProblem makeConvProblem(KernelMap map, int inChannels, int outChannels, uint32_t seed, const ConvTypes &types) {
  ConvProblem problem;
  problem.map = std::move(map);
  problem.inChannels = inChannels;
  problem.outChannels = outChannels;
  problem.types = types;
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  auto draw = [&](size_t count, float scale, uint32_t dtype) {
    std::vector<float> values(count);
    for (auto &value : values)
      value = roundToElement(unit(random) * scale, dtype);
    return values;
  };
  problem.input = draw(static_cast<size_t>(problem.map.inputCount) * inChannels, 1.0f, types.operand);
  float scale = 1.0f / std::sqrt(static_cast<float>(problem.map.volume) * inChannels / 4.0f);
  problem.weight = draw(static_cast<size_t>(problem.map.volume) * inChannels * outChannels, scale, types.operand);
  problem.epilogue.ops = types.epilogueOps;
  for (uint32_t op : types.epilogueOps) {
    if (op == SKG_EPILOGUE_BIAS)
      problem.epilogue.bias = draw(outChannels, 0.5f, SKG_F32);
    if (op == SKG_EPILOGUE_SCALE_SHIFT) {
      problem.epilogue.scale = draw(outChannels, 1.0f, SKG_F32);
      problem.epilogue.shift = draw(outChannels, 0.5f, SKG_F32);
    }
    if (op == SKG_EPILOGUE_RESIDUAL_ADD)
      problem.epilogue.residual = draw(static_cast<size_t>(problem.map.outputCount()) * outChannels, 1.0f, types.output);
  }
  return problem;
}

DeviceConvProblem uploadConvProblem(const ConvProblem &problem) {
  const ConvTypes &t = problem.types;
  DeviceConvProblem device;
  device.problem = &problem;
  device.input = DeviceBuffer::from(encodeElements(problem.input, t.operand));
  device.weight = DeviceBuffer::from(encodeElements(problem.weight, t.operand));
  device.outInMap = DeviceBuffer::from(problem.map.outInMap);
  device.output = DeviceBuffer(static_cast<size_t>(problem.map.outputCount()) * problem.outChannels *
                               elementBytes(t.output));
  device.bias = DeviceBuffer::from(problem.epilogue.bias);
  device.scale = DeviceBuffer::from(problem.epilogue.scale);
  device.shift = DeviceBuffer::from(problem.epilogue.shift);
  device.residual = DeviceBuffer::from(encodeElements(problem.epilogue.residual, t.output));
  auto &a = device.args;
  a.input = device.input.get();
  a.weight = device.weight.get();
  a.outInMap = device.outInMap.get();
  a.output = device.output.get();
  a.inputs = problem.map.inputCount;
  a.outputs = problem.map.outputCount();
  a.inChannels = problem.inChannels;
  a.outChannels = problem.outChannels;
  a.kernelVolume = problem.map.volume;
  a.bias = device.bias.get();
  a.scale = device.scale.get();
  a.shift = device.shift.get();
  a.residual = device.residual.get();
  return device;
}

ConvForwardArguments argumentsFor(DeviceConvProblem &problem, const skg_kernel_record &kernel, int splits) {
  ConvForwardArguments args = problem.args;
  const DataflowInfo &info = dataflowInfo(kernel.dataflow);
  if (info.extras == MapExtras::PairLists) {
    if (problem.pairOffsets.empty()) {
      auto extras = kernelMapExtrasCpu(problem.problem->map, 1, 1);
      problem.pairOffsets = extras.pairOffsets;
      problem.pairInputs = DeviceBuffer::from(extras.pairInputs);
      problem.pairOutputs = DeviceBuffer::from(extras.pairOutputs);
    }
    args.pairOffsets = problem.pairOffsets;
    args.pairInputs = problem.pairInputs.get();
    args.pairOutputs = problem.pairOutputs.get();
    return args;
  }
  if (info.extras != MapExtras::SortInputs)
    return args;
  int s = info.splitsFor(splits, problem.problem->map.volume);
  int tileRows = static_cast<int>(mainFunction(kernel).rows_per_block);
  auto key = std::make_pair(s, tileRows);
  auto it = problem.sortInputs.find(key);
  if (it == problem.sortInputs.end()) {
    auto extras = kernelMapExtrasCpu(problem.problem->map, s, tileRows);
    it = problem.sortInputs
             .emplace(key, std::make_pair(DeviceBuffer::from(extras.splitPermutations), DeviceBuffer::from(extras.tileMasks)))
             .first;
  }
  args.permutation = it->second.first.get();
  args.tileMasks = it->second.second.get();
  args.maskWords = groupMaskWordCount(args.kernelVolume, s);
  args.splits = s;
  return args;
}

std::vector<float> runForOutput(Context &context, const skg_kernel_record &kernel, DeviceConvProblem &problem,
                                int splits) {
  ConvForwardArguments args = argumentsFor(problem, kernel, splits);
  problem.output.fill(0xFF); // a NaN in fp16, bf16 and fp32
  convForward(context, kernel, args);
  context.synchronize(kernel.name);
  return decodeElements(problem.output.download<uint8_t>(), kernel.output_type);
}

ConvCheck runAndCheck(Context &context, const skg_kernel_record &kernel, DeviceConvProblem &problem,
                      const std::vector<double> &reference, int splits) {
  auto output = runForOutput(context, kernel, problem, splits);
  ConvCheck check;
  check.unwrittenRows =
      countNonFiniteRows(problem.output.get(), problem.args.outputs, problem.args.outChannels, kernel.output_type);
  check.relativeError = relativeError(output, reference);
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

TimeSpread spreadOfEventTimes(const std::vector<float> &milliseconds) {
  if (milliseconds.empty())
    return {};
  std::vector<float> sorted = milliseconds;
  std::sort(sorted.begin(), sorted.end());
  auto rank = [&](double fraction) { return sorted[static_cast<size_t>(fraction * (sorted.size() - 1) + 0.5)]; };
  return {medianOfEventTimes(sorted), rank(0.1), rank(0.9)};
}

} // namespace sparsekgen
