// Times the backward kernels of the linked bundle against its forward kernels on real scans: a 3x3x3
// submanifold convolution (voxelized at 0.05 m), Cin = Cout in {32, 64, 128}, fp16 operands with
// 16-byte alignment and no epilogue. For each kernel: verified against the float64 reference
// first (forward output, input gradient, weight gradient), then CUDA-event medians after warm-up;
// weight gradients with the runtime's chunk count. Writes JSON with the GPU and the date, and with
// --dump-coordinates the voxels of each input for bench/peers/spconv_backward.py.
//
//   sparsekgen-bench-backward [--out results.json] [--dump-coordinates DIR] scan.bin:COLUMNS ...
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/BackwardVerification.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/RunReport.h"
#include "sparsekgen_kernels.h"

namespace {

// fp16 operands, 16-byte alignment, no epilogue; outputs in fp16 (weight gradients: f32).
bool benchmarked(const skg_kernel_record &kernel) {
  const uint32_t output = kernel.operation == SKG_WEIGHT_GRAD ? SKG_F32 : SKG_F16;
  return kernel.operand_type == SKG_F16 && kernel.output_type == output && kernel.epilogue_op_count == 0 &&
         kernel.channel_alignment == 8 && kernel.math == SKG_MATH_TENSOR_CORE;
}

} // namespace

int main(int argc, char **argv) {
  using namespace sparsekgen;
  auto [outPath, coordinatesDir, scans] = reports::parseScanArguments(argc, argv);
  if (scans.empty()) {
    fmt::print(stderr, "usage: sparsekgen-bench-backward [--out results.json] [--dump-coordinates DIR] "
                       "scan.bin:COLUMNS [...]\n");
    return 2;
  }
  try {
    Context context(0, sparsekgen_kernels);
    constexpr int kWarmup = 10, kIterations = 50;
    nlohmann::json runs = nlohmann::json::array(), best = nlohmann::json::array();
    fmt::print("{:<22} {:>7} {:>4}  {:<12} {:<66} {:>9} {:>8}\n", "scan", "voxels", "C", "operation", "kernel", "ms",
               "error");
    for (const auto &spec : scans) {
      reports::BenchInput input = reports::loadBenchInput(spec);
      if (!coordinatesDir.empty())
        reports::dumpCoordinates(coordinatesDir, input);
      const std::string &scan = input.label;
      const std::vector<Coordinate> &voxels = input.coordinates;
      for (int channels : {32, 64, 128}) {
        fmt::print(stderr, "{}: {} voxels, C = {}: float64 references ...\n", scan, voxels.size(),
                   channels);
        ConvBackwardProblem problem = makeConvBackwardProblem(voxels, ConvGeometry{}, channels, channels, 7, SKG_F16);
        ConvProblem forward = makeConvProblem(problem.map, channels, channels, 7);
        forward.input = problem.input; // the same x and W as the backward
        forward.weight = problem.weight;
        const auto forwardReference = forward.reference();
        const auto inputGradReference = problem.inputGradReference();
        const auto weightGradReference = problem.weightGradReference();
        DeviceConvProblem forwardDevice = uploadConvProblem(forward);
        DeviceConvBackwardProblem backwardDevice = uploadConvBackwardProblem(problem);
        std::vector<double> bestMs(SKG_OPERATION_COUNT, 0.0);
        std::vector<std::string> bestKernel(SKG_OPERATION_COUNT);
        for (const skg_kernel_record *kernel : context.kernels()) {
          if (!benchmarked(*kernel))
            continue;
          const auto operation = static_cast<skg_operation>(kernel->operation);
          ConvCheck check;
          double ms = 0;
          if (operation == SKG_FORWARD) {
            check = runAndCheck(context, *kernel, forwardDevice, forwardReference);
            auto args = argumentsFor(forwardDevice, *kernel);
            ms = medianMilliseconds([&] { convForward(context, *kernel, args); }, kWarmup, kIterations);
          } else {
            const bool inputGrad = operation == SKG_INPUT_GRAD;
            check = runBackwardAndCheck(context, *kernel, backwardDevice,
                                        inputGrad ? inputGradReference : weightGradReference);
            auto args = backwardArgumentsFor(backwardDevice, *kernel);
            ms = medianMilliseconds(
                [&] { convBackward(context, inputGrad ? kernel : nullptr, inputGrad ? nullptr : kernel, args); },
                kWarmup, kIterations);
          }
          const bool verified = check.unwrittenRows == 0 && check.relativeError <= 2e-2;
          if (verified && (bestKernel[operation].empty() || ms < bestMs[operation])) {
            bestMs[operation] = ms;
            bestKernel[operation] = kernel->name;
          }
          fmt::print("{:<22} {:>7} {:>4}  {:<12} {:<66} {:>9.4f} {:>8.1e}{}\n", scan, voxels.size(),
                     channels, operationSpellings()[operation], kernel->name, ms, check.relativeError,
                     verified ? "" : "  (FAILED verification)");
          runs.push_back({{"scan", scan},
                          {"voxels", voxels.size()},
                          {"neighbour_pairs", problem.map.pairCount()},
                          {"channels", channels},
                          {"operation", std::string(operationSpellings()[operation])},
                          {"kernel", kernel->name},
                          {"median_ms", ms},
                          {"relative_error", check.relativeError},
                          {"unwritten_rows", check.unwrittenRows},
                          {"verified", verified}});
        }
        nlohmann::json entry = {{"scan", scan}, {"voxels", voxels.size()}, {"channels", channels}};
        for (int op = 0; op < SKG_OPERATION_COUNT; ++op)
          entry[std::string(operationSpellings()[op])] = {{"kernel", bestKernel[op]}, {"median_ms", bestMs[op]}};
        fmt::print("  fastest: forward {:.4f} ms, input_grad {:.4f} ms, weight_grad {:.4f} ms\n", bestMs[0],
                   bestMs[1], bestMs[2]);
        best.push_back(entry);
      }
    }
    nlohmann::json result = reports::reportHeader("conv_backward_real_scans", context);
    result["bundle_hash"] = sparsekgen_kernels.bundle_hash;
    result["conv"] = "3x3x3 submanifold, voxel 0.05 m, Cin = Cout, f16 operands, 16-byte alignment, no epilogue";
    result["method"] = fmt::format("CUDA events around each call (convForward / convBackward, weight gradients with "
                                   "the runtime's chunk count, chunk arrays uploaded per call); median of {} after {} "
                                   "warm-up runs; each kernel verified against float64 before timing",
                                   kIterations, kWarmup);
    result["fastest"] = best;
    result["runs"] = runs;
    reports::writeReport(result, outPath);
    return 0;
  } catch (const std::exception &error) {
    fmt::print(stderr, "sparsekgen-bench-backward: error: {}\n", error.what());
    return 1;
  }
}
