// Warpgroup MMA against warp MMA: every fp16 forward kernel (no epilogue, alignment 8) of the Hopper
// bundle (wgmma.mma_async, sm_90a), of the Hopper TMA bundle where this build has it (weight tiles
// by TMA, math warpgroup_mma_tma) and of the default bundle (mma.sync) as a 3x3x3 submanifold
// convolution on real scans (voxelized at 0.05 m), Cin = Cout in {64, 128, 256}: CUDA-event
// medians after warm-up, each run verified against the float64 reference first. Prints, per
// dataflow and width, the fastest kernel of each kind and its useful TFLOP/s; writes every run as JSON
// with the GPU and the date.
//
//   sparsekgen-bench-wgmma --out results.json scan.bin [scan.bin ...]
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ConvRunRecord.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/RunReport.h"
#include "sparsekgen/Verification.h"
#include "sparsekgen_hopper_kernels.h"
#include "sparsekgen_kernels.h"
#if SPARSEKGEN_HAVE_HOPPER_TMA_BUNDLE
#include "sparsekgen_hopper_tma_kernels.h"
#endif

int main(int argc, char **argv) {
  auto [outPath, coordinatesDir, scans] = sparsekgen::reports::parseScanArguments(argc, argv);
  if (scans.empty()) {
    fmt::print(stderr, "usage: sparsekgen-bench-wgmma [--out results.json] scan.bin [scan.bin ...]\n");
    return 2;
  }
  try {
    sparsekgen::Context warp(0, sparsekgen_kernels), warpgroup(0, sparsekgen_hopper_kernels);
    std::vector<sparsekgen::Context *> contexts = {&warp, &warpgroup};
#if SPARSEKGEN_HAVE_HOPPER_TMA_BUNDLE
    sparsekgen::Context tma(0, sparsekgen_hopper_tma_kernels);
    contexts.push_back(&tma);
#endif
    if (warpgroup.kernels().empty())
      throw sparsekgen::RuntimeError(fmt::format("{} (sm_{}) runs none of the Hopper bundle's sm_90a kernels",
                                                 warpgroup.device().name, warpgroup.device().sm));
    constexpr int kWarmup = 20, kIterations = 100;
    nlohmann::json runs = nlohmann::json::array();
    // (scan, channels, dataflow, math) -> fastest (ms, kernel)
    std::map<std::tuple<std::string, int, std::string, std::string>, std::pair<double, std::string>> fastest;
    for (const auto &scan : scans) {
      auto voxels = sparsekgen::voxelize(sparsekgen::loadPointFile(scan, 4), 0.05f);
      for (int channels : {64, 128, 256}) {
        auto problem = sparsekgen::makeConvProblem(voxels, sparsekgen::ConvGeometry{}, channels, channels, 7);
        auto reference = problem.reference();
        auto gpu = sparsekgen::uploadConvProblem(problem);
        const long long pairs = problem.map.pairCount();
        const double flops = 2.0 * pairs * channels * channels;
        for (sparsekgen::Context *context : contexts)
          for (const skg_kernel_record *kernel : context->kernels()) {
            if (kernel->operation != SKG_FORWARD || kernel->operand_type != SKG_F16 ||
                kernel->output_type != SKG_F16 || kernel->epilogue_op_count != 0 || kernel->channel_alignment != 8 ||
                kernel->index_bits != 32)
              continue;
            auto check = sparsekgen::runAndCheck(*context, *kernel, gpu, reference);
            auto args = sparsekgen::argumentsFor(gpu, *kernel);
            const double ms = sparsekgen::medianMilliseconds(
                [&] { sparsekgen::convForward(*context, *kernel, args); }, kWarmup, kIterations);
            const std::string dataflow(sparsekgen::dataflowSpellings().at(kernel->dataflow));
            const std::string math(sparsekgen::mathSpellings().at(kernel->math));
            auto &best = fastest[{sparsekgen::reports::baseName(scan), channels, dataflow, math}];
            if (best.second.empty() || ms < best.first)
              best = {ms, kernel->name};
            auto record = sparsekgen::bench::convRunRecord({sparsekgen::reports::baseName(scan), voxels.size(), pairs,
                                                            channels, channels, kernel->name,
                                                            context->load(*kernel).imageDescription, args.splits, ms,
                                                            check});
            record["dataflow"] = dataflow;
            record["math"] = math;
            runs.push_back(record);
          }
        fmt::print("{} ({} voxels, {} pairs), C = {}:\n", sparsekgen::reports::baseName(scan), voxels.size(), pairs,
                   channels);
        for (const auto &[key, best] : fastest)
          if (std::get<0>(key) == sparsekgen::reports::baseName(scan) && std::get<1>(key) == channels)
            fmt::print("  {:<22} {:<14} {:>8.4f} ms {:>7.1f} TFLOP/s  {}\n", std::get<2>(key), std::get<3>(key),
                       best.first, flops / (best.first * 1e-3) / 1e12, best.second);
      }
    }
    nlohmann::json result = sparsekgen::reports::reportHeader("warpgroup_mma_vs_warp_mma_real_scans", warpgroup);
    result["bundle_hashes"] = {{"default", sparsekgen_kernels.bundle_hash},
                               {"hopper", sparsekgen_hopper_kernels.bundle_hash}};
#if SPARSEKGEN_HAVE_HOPPER_TMA_BUNDLE
    result["bundle_hashes"]["hopper_tma"] = sparsekgen_hopper_tma_kernels.bundle_hash;
#endif
    result["method"] = fmt::format("CUDA events around each launch; median of {} after {} warm-up runs; output "
                                   "verified against float64 before timing; useful TFLOP/s = 2 x pairs x Cin x "
                                   "Cout / time",
                                   kIterations, kWarmup);
    result["runs"] = runs;
    sparsekgen::reports::writeReport(result, outPath);
    return 0;
  } catch (const std::exception &error) {
    fmt::print(stderr, "sparsekgen-bench-wgmma: error: {}\n", error.what());
    return 1;
  }
}
