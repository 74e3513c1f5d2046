// One timed forward convolution of a real scan as a benchmark JSON record (the fields the
// convolution benchmarks share).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "sparsekgen/Verification.h"

namespace sparsekgen::bench {

struct ConvRun {
  std::string scan;
  size_t voxels = 0;
  long long pairs = 0;
  int inChannels = 0, outChannels = 0;
  std::string kernel, image;
  int splits = 1;
  double medianMs = 0;
  ConvCheck check;
};

inline nlohmann::json convRunRecord(const ConvRun &run) {
  const double flops = 2.0 * run.pairs * run.inChannels * run.outChannels;
  return {{"scan", run.scan},
          {"voxel_size_m", 0.05},
          {"voxels", run.voxels},
          {"neighbour_pairs", run.pairs},
          {"conv", "3x3x3 submanifold"},
          {"in_channels", run.inChannels},
          {"out_channels", run.outChannels},
          {"kernel", run.kernel},
          {"splits", run.splits},
          {"image", run.image},
          {"median_ms", run.medianMs},
          {"useful_tflops", flops / (run.medianMs * 1e-3) / 1e12},
          {"relative_error", run.check.relativeError},
          {"unwritten_rows", run.check.unwrittenRows}};
}

} // namespace sparsekgen::bench
