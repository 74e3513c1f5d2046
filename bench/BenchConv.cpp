// Times every kernel of the linked bundle as a 3x3x3 submanifold convolution on real scans
// (voxelized at 0.05 m), Cin = Cout in {32, 64}: CUDA-event medians after warm-up, each run
// verified against the float64 reference first. Writes JSON with the GPU and the date.
//
//   sparsekgen-bench-conv --out results.json scan.bin [scan.bin ...]
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ConvRunRecord.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/Verification.h"
#include "sparsekgen/RunReport.h"
#include "sparsekgen_kernels.h"

int main(int argc, char **argv) {
  auto [outPath, coordinatesDir, scans] = sparsekgen::reports::parseScanArguments(argc, argv);
  if (scans.empty()) {
    fmt::print(stderr, "usage: sparsekgen-bench-conv [--out results.json] scan.bin [scan.bin ...]\n");
    return 2;
  }
  try {
    sparsekgen::Context context(0, sparsekgen_kernels);
    constexpr int kWarmup = 20, kIterations = 100;
    nlohmann::json runs = nlohmann::json::array();
    fmt::print("{:<22} {:>7} {:>4}  {:<64} {:>9} {:>9} {:>8}\n", "scan", "voxels", "C", "kernel", "ms", "TFLOP/s",
               "error");
    for (const auto &scan : scans) {
      auto voxels = sparsekgen::voxelize(sparsekgen::loadPointFile(scan, 4), 0.05f);
      for (int channels : {32, 64}) {
        auto problem = sparsekgen::makeConvProblem(voxels, sparsekgen::ConvGeometry{}, channels, channels, 7);
        auto reference = problem.reference();
        auto gpu = sparsekgen::uploadConvProblem(problem);
        long long pairs = problem.map.pairCount();
        double flops = 2.0 * pairs * channels * channels;
        for (const skg_kernel_record *kernel : context.kernels()) {
          // The plain fp16 convolution of every dataflow and tile; other types and fused
          // epilogues are verified by the GPU tests.
          if (kernel->operation != SKG_FORWARD || kernel->operand_type != SKG_F16 || kernel->output_type != SKG_F16 || kernel->epilogue_op_count != 0 ||
              kernel->channel_alignment != 8)
            continue;
          auto check = sparsekgen::runAndCheck(context, *kernel, gpu, reference);
          auto args = sparsekgen::argumentsFor(gpu, *kernel);
          double ms = sparsekgen::medianMilliseconds([&] { sparsekgen::convForward(context, *kernel, args); },
                                                     kWarmup, kIterations);
          bool isDefault = kernel == context.kernels().front();
          fmt::print("{:<22} {:>7} {:>4}  {:<64} {:>9.4f} {:>9.2f} {:>8.1e}{}\n", sparsekgen::reports::baseName(scan), voxels.size(),
                     channels, kernel->name, ms, flops / (ms * 1e-3) / 1e12, check.relativeError,
                     isDefault ? "  (default)" : "");
          auto record = sparsekgen::bench::convRunRecord({sparsekgen::reports::baseName(scan), voxels.size(), pairs,
                                                          channels, channels, kernel->name,
                                                          context.load(*kernel).imageDescription, args.splits, ms,
                                                          check});
          record["default_kernel"] = isDefault;
          runs.push_back(record);
        }
      }
    }
    nlohmann::json result = sparsekgen::reports::reportHeader("conv_forward_real_scans", context);
    result["bundle_hash"] = sparsekgen_kernels.bundle_hash;
    result["method"] = fmt::format("CUDA events around each launch; median of {} after {} warm-up runs; output "
                                   "verified against float64 before timing",
                                   kIterations, kWarmup);
    result["runs"] = runs;
    sparsekgen::reports::writeReport(result, outPath);
    return 0;
  } catch (const std::exception &error) {
    fmt::print(stderr, "sparsekgen-bench-conv: error: {}\n", error.what());
    return 1;
  }
}
