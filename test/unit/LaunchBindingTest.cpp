// Every kernel of the default bundle (and of the Hopper bundles where this build has them), bound
// the way convForward binds it: each recorded parameter of each function must be provided by the
// call's arguments, the dataflow's scratch buffers or the weight's tensor map, with the right kind,
// and docs/runtime.md's launch ABI table must say what the records say. CPU only: the bundles'
// records are host data.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sparsekgen/ConvArguments.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/KernelMap.h"
#include "sparsekgen_kernels.h"
#if SPARSEKGEN_HAVE_HOPPER_BUNDLE
#include "sparsekgen_hopper_kernels.h"
#endif
#if SPARSEKGEN_HAVE_HOPPER_TMA_BUNDLE
#include "sparsekgen_hopper_tma_kernels.h"
#endif

namespace sparsekgen {
namespace {

// A call every default kernel takes: channel counts that are multiples of 8, distinct aligned
// pointers, sort inputs for the launch's splits, pair lists of 27 offsets.
ConvForwardArguments sampleCall(const skg_kernel_record &kernel) {
  ConvForwardArguments args;
  DevicePointer next = 0x10000;
  auto pointer = [&] { return next += 0x10000; };
  args.input = pointer();
  args.weight = pointer();
  args.outInMap = pointer();
  args.output = pointer();
  args.bias = pointer();
  args.scale = pointer();
  args.shift = pointer();
  args.residual = pointer();
  args.permutation = pointer();
  args.tileMasks = pointer();
  args.pairInputs = pointer();
  args.pairOutputs = pointer();
  args.inputs = 1000;
  args.outputs = 900;
  args.inChannels = 64;
  args.outChannels = 96;
  args.kernelVolume = 27;
  args.splits = dataflowInfo(kernel.dataflow).takesSplits() ? 3 : 1;
  args.maskWords = groupMaskWordCount(args.kernelVolume, args.splits);
  for (int k = 0; k <= args.kernelVolume; ++k)
    args.pairOffsets.push_back(100 * k);
  return args;
}

// The call's arguments plus the scratch buffers, pair tiles and the weight's tensor map, as
// convForward provides them (`withTensorMap` false: all but the map).
LaunchArguments boundAsConvForward(const skg_kernel_record &kernel, const ConvForwardArguments &args,
                                   bool withTensorMap = true) {
  LaunchArguments arguments = callArguments(kernel, args);
  if (withTensorMap && takesWeightTensorMap(kernel))
    arguments.setPointer("weight_map", 0x7000000);
  DevicePointer scratch = 0x8000000;
  for (const auto &buffer : scratchBuffers(kernel, args))
    arguments.setPointer(buffer.name, scratch += 0x100000);
  if (dataflowInfo(kernel.dataflow).pairTiled())
    for (const char *name : {kTileOffsets, kTileBegins, kTileEnds})
      arguments.setPointer(name, scratch += 0x100000);
  return arguments;
}

// A backward call every default weight-gradient kernel takes, and its arguments as convBackward
// binds them (the call's tensors, the K-chunk arrays, the partials).
ConvBackwardArguments sampleBackwardCall() {
  ConvForwardArguments forward = sampleCall(sparsekgen_kernels.kernels[0]);
  ConvBackwardArguments args;
  args.input = forward.input;
  args.weight = forward.weight;
  args.outputGrad = forward.output;
  args.weightGrad = forward.bias;
  args.inputs = forward.inputs;
  args.outputs = forward.outputs;
  args.inChannels = forward.inChannels;
  args.outChannels = forward.outChannels;
  args.kernelVolume = forward.kernelVolume;
  args.pairInputs = forward.pairInputs;
  args.pairOutputs = forward.pairOutputs;
  args.pairOffsets = forward.pairOffsets;
  return args;
}

LaunchArguments boundAsConvBackward(const ConvBackwardArguments &args) {
  LaunchArguments arguments = weightGradCallArguments(args);
  DevicePointer scratch = 0x8000000;
  for (const char *name : {kTileOffsets, kTileBegins, kTileEnds, kTileFirst, kPartials})
    arguments.setPointer(name, scratch += 0x100000);
  return arguments;
}

std::vector<const skg_kernel_record *> bundleKernels() {
  std::vector<const skg_kernel_record *> kernels;
  for (uint32_t i = 0; i < sparsekgen_kernels.kernel_count; ++i)
    kernels.push_back(&sparsekgen_kernels.kernels[i]);
  return kernels;
}

// Binds every function of `kernel` as convForward or convBackward would, and checks each value and
// the function's grid.
void expectEveryFunctionBinds(const skg_kernel_record *kernel) {
  const auto operation = static_cast<skg_operation>(kernel->operation);
  ConvForwardArguments args = sampleCall(*kernel);
  ConvBackwardArguments backward = sampleBackwardCall();
  LaunchArguments arguments;
  if (operation == SKG_WEIGHT_GRAD) {
    ASSERT_NO_THROW(checkWeightGradArguments(*kernel, backward)) << kernel->name;
    arguments = boundAsConvBackward(backward);
  } else {
    ASSERT_NO_THROW(checkConvArguments(*kernel, args, operation)) << kernel->name;
    arguments = boundAsConvForward(*kernel, args);
  }
  const DataflowInfo &info = dataflowInfo(kernel->dataflow);
  EXPECT_EQ(kernel->function_count, info.companions.size() + 1) << kernel->name;
  EXPECT_EQ(mainFunction(*kernel).name, std::string(kernel->name));
  for (uint32_t f = 0; f < kernel->function_count; ++f) {
    const skg_kernel_function &function = kernel->functions[f];
    std::vector<void *> bound;
    ASSERT_NO_THROW(bound = arguments.bind(*kernel, function)) << function.name;
    ASSERT_EQ(bound.size(), function.parameter_count) << function.name;
    for (uint32_t i = 0; i < function.parameter_count; ++i) {
      const skg_parameter &parameter = function.parameters[i];
      if (parameter.type == SKG_PARAMETER_I32)
        EXPECT_GT(*static_cast<int *>(bound[i]), 0) << function.name << " " << parameter.name;
      else
        EXPECT_NE(*static_cast<DevicePointer *>(bound[i]), 0u) << function.name << " " << parameter.name;
    }
    GridSizes sizes{args.outputs, args.inChannels, args.outChannels, launchSplits(*kernel, args), 5,
                    args.pairCount(), args.kernelVolume};
    LaunchShape shape = launchShape(function, sizes);
    EXPECT_GT(shape.grid[0], 0u) << function.name;
    EXPECT_EQ(shape.threads, function.threads_per_block) << function.name;
  }
}

TEST(LaunchBinding, EveryFunctionOfEveryDefaultKernelBindsByName) {
  ASSERT_EQ(sparsekgen_kernels.abi_version, SPARSEKGEN_BUNDLE_ABI_VERSION);
  ASSERT_EQ(sparsekgen_kernels.kernel_count, 280u);
  std::set<uint32_t> dataflowsSeen;
  std::map<uint32_t, int> operationsSeen;
  for (const auto *kernel : bundleKernels()) {
    dataflowsSeen.insert(kernel->dataflow);
    ++operationsSeen[kernel->operation];
    expectEveryFunctionBinds(kernel);
  }
  EXPECT_EQ(dataflowsSeen.size(), dataflowTable().size()) << "the default catalog covers every dataflow";
  EXPECT_EQ(operationsSeen.size(), static_cast<size_t>(SKG_OPERATION_COUNT)) << "and every operation";
}

TEST(LaunchBinding, NoDefaultKernelReadsATensorMap) {
  for (const auto *kernel : bundleKernels())
    EXPECT_FALSE(takesWeightTensorMap(*kernel)) << kernel->name;
}

#if SPARSEKGEN_HAVE_HOPPER_TMA_BUNDLE
// The TMA bundle's kernels read their weight through the tensor map convForward encodes: they bind
// with it, and without it the error names the parameter.
TEST(LaunchBinding, EveryTmaKernelBindsItsWeightTensorMap) {
  ASSERT_GT(sparsekgen_hopper_tma_kernels.kernel_count, 0u);
  for (uint32_t k = 0; k < sparsekgen_hopper_tma_kernels.kernel_count; ++k) {
    const skg_kernel_record &kernel = sparsekgen_hopper_tma_kernels.kernels[k];
    EXPECT_EQ(kernel.math, SKG_MATH_WARPGROUP_MMA_TMA) << kernel.name;
    ASSERT_TRUE(takesWeightTensorMap(kernel)) << kernel.name;
    expectEveryFunctionBinds(&kernel);
    LaunchArguments arguments = boundAsConvForward(kernel, sampleCall(kernel), /*withTensorMap=*/false);
    try {
      arguments.bind(kernel, mainFunction(kernel));
      ADD_FAILURE() << kernel.name << " bound without its tensor map";
    } catch (const RuntimeError &error) {
      EXPECT_NE(std::string(error.what()).find("'weight_map', read tensormap*"), std::string::npos) << error.what();
    }
  }
}
#endif

#if SPARSEKGEN_HAVE_HOPPER_BUNDLE
TEST(LaunchBinding, EveryFunctionOfEveryHopperKernelBindsByName) {
  ASSERT_EQ(sparsekgen_hopper_kernels.abi_version, SPARSEKGEN_BUNDLE_ABI_VERSION);
  for (uint32_t k = 0; k < sparsekgen_hopper_kernels.kernel_count; ++k) {
    EXPECT_FALSE(takesWeightTensorMap(sparsekgen_hopper_kernels.kernels[k]));
    expectEveryFunctionBinds(&sparsekgen_hopper_kernels.kernels[k]);
  }
}
#endif

TEST(LaunchBinding, ValuesReachTheParametersOfTheirName) {
  const skg_kernel_record &kernel = sparsekgen_kernels.kernels[0];
  ConvForwardArguments args = sampleCall(kernel);
  LaunchArguments arguments = boundAsConvForward(kernel, args);
  const skg_kernel_function &main = mainFunction(kernel);
  auto bound = arguments.bind(kernel, main);
  std::map<std::string, DevicePointer> expected = {
      {"input", args.input}, {"weight", args.weight}, {"out_in_map", args.outInMap}, {"output", args.output}};
  for (uint32_t i = 0; i < main.parameter_count; ++i)
    if (auto it = expected.find(main.parameters[i].name); it != expected.end())
      EXPECT_EQ(*static_cast<DevicePointer *>(bound[i]), it->second) << it->first;
}

TEST(LaunchBinding, AMissingOrMistypedArgumentIsNamed) {
  const skg_kernel_record &kernel = sparsekgen_kernels.kernels[0];
  ConvForwardArguments args = sampleCall(kernel);
  LaunchArguments arguments = boundAsConvForward(kernel, args);
  arguments.setPointer("out_in_map", 0);
  try {
    arguments.bind(kernel, mainFunction(kernel));
    FAIL() << "a null out_in_map was bound";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("'out_in_map'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("is null"), std::string::npos) << error.what();
  }
  LaunchArguments sizesOnly;
  sizesOnly.setSize("input", 3);
  try {
    sizesOnly.bind(kernel, mainFunction(kernel));
    FAIL() << "a size was bound to a pointer parameter";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("was given a size, not a pointer"), std::string::npos) << error.what();
  }
}

TEST(LaunchBinding, AForeignAbiIsRefusedBeforeAnyLaunch) {
  skg_kernel_record kernel = sparsekgen_kernels.kernels[0];
  kernel.launch_abi = "implicit_gemm_forward.v2";
  try {
    checkConvArguments(kernel, sampleCall(kernel));
    FAIL() << "a v2 launch ABI was accepted";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("implicit_gemm_forward.v3"), std::string::npos) << error.what();
  }
}

// One row of docs/runtime.md's launch ABI table for a function: ABI, function role, grid rule and
// the parameters (pointers with their role, sizes bare), the epilogue's left out.
std::string documentedRow(const skg_kernel_record &kernel, const skg_kernel_function &function) {
  static const std::set<std::string> epilogue = {"bias", "scale", "shift", "residual"};
  std::vector<std::string> parameters;
  for (uint32_t i = 0; i < function.parameter_count; ++i) {
    const skg_parameter &parameter = function.parameters[i];
    if (epilogue.count(parameter.name))
      continue;
    parameters.push_back(parameter.type == SKG_PARAMETER_I32
                             ? std::string(parameter.name)
                             : fmt::format("{} ({})", parameter.name,
                                           spellingOf(static_cast<skg_parameter_role>(parameter.role))));
  }
  return fmt::format("| `{}` | {} | {} | {} |", kernel.launch_abi,
                     spellingOf(static_cast<skg_function_role>(function.role)),
                     spellingOf(static_cast<skg_grid_rule>(function.grid_rule)), fmt::join(parameters, ", "));
}

TEST(LaunchBinding, RuntimeDocsListEachRecordedFunction) {
  std::ifstream file(SPARSEKGEN_SOURCE_DIR "/docs/runtime.md");
  ASSERT_TRUE(file) << "docs/runtime.md";
  std::set<std::string> documented;
  for (std::string line; std::getline(file, line);)
    if (line.rfind("| `", 0) == 0 && line.find(".v") != std::string::npos)
      documented.insert(line);
  std::set<std::string> recorded;
  for (const auto *kernel : bundleKernels())
    for (uint32_t f = 0; f < kernel->function_count; ++f)
      recorded.insert(documentedRow(*kernel, kernel->functions[f]));
  for (const auto &row : recorded)
    EXPECT_TRUE(documented.count(row)) << "docs/runtime.md lacks the row\n" << row;
  for (const auto &row : documented)
    EXPECT_TRUE(recorded.count(row)) << "docs/runtime.md has a row no bundled kernel records\n" << row;
}

} // namespace
} // namespace sparsekgen
