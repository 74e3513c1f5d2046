// Time to build every kernel map of MinkUNet42 on real inputs: five levels, each with a 3x3x3
// submanifold map; four 2x2x2 stride-2 maps (with their output coordinates); the four transposed
// maps from them. Starts from the level-0 coordinates on the GPU (hash tables included); CUDA
// events around the whole build, median of the runs after warm-up. Every map is first checked
// against the CPU reference. Optionally writes each input's level-0 coordinates (int32 [N, 4] =
// batch, x, y, z) so a peer can be timed on exactly the same input (bench/peers/).
//
//   sparsekgen-bench-kernel-maps [--out results.json] [--dump-coordinates DIR] INPUT...
//   INPUT: scan.bin:COLUMNS (voxelized at 0.05 m) or coords.i32 (int32 [N, 4] = batch, z, y, x)
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/GpuKernelMaps.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/Verification.h"
#include "sparsekgen/RunReport.h"
#include "sparsekgen_kernels.h"

namespace {

using namespace sparsekgen;

constexpr int kLevels = 5;



struct NetworkMaps {
  std::vector<DeviceKernelMap> submanifold, down, up;
};

const ConvGeometry kSubmanifold{{3, 3, 3}, {1, 1, 1}, {1, 1, 1}};
const ConvGeometry kDown{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}};

NetworkMaps buildNetworkMaps(CUdeviceptr level0, int rows) {
  NetworkMaps maps;
  auto coordinates = SparseCoordinates::fromDevice(level0, rows);
  for (int level = 0; level < kLevels; ++level) {
    maps.submanifold.push_back(buildKernelMapGpu(coordinates, kSubmanifold));
    if (level + 1 < kLevels) {
      maps.down.push_back(buildKernelMapGpu(coordinates, kDown));
      coordinates = maps.down.back().outputs;
    }
  }
  for (const auto &down : maps.down)
    maps.up.push_back(transposedKernelMapGpu(down));
  return maps;
}

bool matchesCpu(const NetworkMaps &maps, const std::vector<Coordinate> &level0) {
  std::vector<Coordinate> coordinates = level0;
  bool ok = true;
  for (int level = 0; level < kLevels; ++level) {
    auto subm = buildKernelMapCpu(coordinates, kSubmanifold);
    ok = ok && maps.submanifold[level].downloadOutInMap() == subm.outInMap;
    if (level + 1 < kLevels) {
      auto down = buildKernelMapCpu(coordinates, kDown);
      ok = ok && maps.down[level].downloadOutInMap() == down.outInMap &&
           maps.down[level].outputs->download() == down.outputs;
      ok = ok && maps.up[level].downloadOutInMap() == transposedKernelMapCpu(down, coordinates).outInMap;
      coordinates = down.outputs;
    }
  }
  return ok;
}

} // namespace

int main(int argc, char **argv) {
  std::string outPath, dumpDir;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--out" && i + 1 < argc)
      outPath = argv[++i];
    else if (arg == "--dump-coordinates" && i + 1 < argc)
      dumpDir = argv[++i];
    else
      inputs.push_back(arg);
  }
  if (inputs.empty()) {
    fmt::print(stderr, "usage: sparsekgen-bench-kernel-maps [--out results.json] [--dump-coordinates DIR] "
                       "scan.bin:COLUMNS|coords.i32 ...\n");
    return 2;
  }
  try {
    Context context(0, sparsekgen_kernels);
    constexpr int kWarmup = 10, kIterations = 50;
    nlohmann::json runs = nlohmann::json::array();
    fmt::print("{:<28} {:>8} {:>44} {:>10} {:>8}\n", "input", "voxels", "voxels per level", "ms", "exact");
    for (const auto &input : inputs) {
      auto loaded = reports::loadBenchInput(input);
      const auto &level0 = loaded.coordinates;
      const std::string &name = loaded.label;
      if (!dumpDir.empty())
        reports::dumpCoordinates(dumpDir, loaded);
      auto device = DeviceBuffer::from(level0);
      const int rows = static_cast<int>(level0.size());
      NetworkMaps checked = buildNetworkMaps(device.get(), rows);
      if (!dumpDir.empty()) { // lets a peer script compare its level-0 submanifold map with ours
        auto map = checked.submanifold.front().downloadOutInMap();
        std::ofstream(dumpDir + "/" + name + ".subm0.out_in_map.i32", std::ios::binary)
            .write(reinterpret_cast<const char *>(map.data()), map.size() * sizeof(int32_t));
      }
      bool exact = matchesCpu(checked, level0);
      std::vector<int> levelSizes;
      for (const auto &map : checked.submanifold)
        levelSizes.push_back(map.outputCount());
      double ms = medianMilliseconds([&] { buildNetworkMaps(device.get(), rows); }, kWarmup, kIterations);
      fmt::print("{:<28} {:>8} {:>44} {:>10.3f} {:>8}\n", name, rows, fmt::format("{}", fmt::join(levelSizes, " / ")),
                 ms, exact ? "yes" : "NO");
      runs.push_back({{"input", name},
                      {"voxels", rows},
                      {"voxels_per_level", levelSizes},
                      {"median_ms", ms},
                      {"maps_identical_to_cpu_reference", exact}});
    }
    nlohmann::json result = reports::reportHeader("minkunet42_kernel_maps", context);
    result["maps"] = "5 x 3x3x3 submanifold, 4 x 2x2x2 stride 2 (with output coordinates), 4 transposed";
    result["method"] = fmt::format("from level-0 coordinates on the GPU (hash tables included); CUDA events "
                                   "around the whole build; median of {} after {} warm-up runs",
                                   kIterations, kWarmup);
    result["runs"] = runs;
    reports::writeReport(result, outPath);
    return 0;
  } catch (const std::exception &error) {
    fmt::print(stderr, "sparsekgen-bench-kernel-maps: error: {}\n", error.what());
    return 1;
  }
}
