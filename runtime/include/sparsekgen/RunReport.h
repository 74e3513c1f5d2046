// What every JSON report of a GPU run (benchmarks, tuning) shares: the date, the GPU, the inputs
// it ran on, and the write to --out.
#pragma once

#include <chrono>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/Context.h"
#include "sparsekgen/OutputFiles.h"
#include "sparsekgen/PointCloud.h"

namespace sparsekgen::reports {

inline std::string todayUtc() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d", std::gmtime(&now));
  return text;
}

inline std::string baseName(const std::string &path) { return path.substr(path.find_last_of('/') + 1); }

// {"benchmark", "date", "gpu"} followed by the benchmark's own fields.
inline nlohmann::json reportHeader(const std::string &benchmark, const Context &context) {
  const DeviceInfo &device = context.device();
  return {{"benchmark", benchmark},
          {"date", todayUtc()},
          {"gpu",
           {{"name", device.name},
            {"sm", device.sm},
            {"multiprocessors", device.multiprocessors},
            {"cuda_driver_version", device.driverVersion}}}};
}

// A benchmark input: scan.bin:COLUMNS (voxelized at `voxelSize`) or coords.i32 (int32 [N, 4] =
// batch, z, y, x). Its label is the file name without the column count.
struct BenchInput {
  std::string label;
  std::vector<Coordinate> coordinates;
};
inline BenchInput loadBenchInput(const std::string &spec, float voxelSize = 0.05f) {
  if (auto colon = spec.rfind(':'); colon != std::string::npos)
    return {baseName(spec.substr(0, colon)),
            voxelize(loadPointFile(spec.substr(0, colon), std::stoi(spec.substr(colon + 1))), voxelSize)};
  return {baseName(spec), loadZyxCoordinateFile(spec)};
}

// Writes <dir>/<label>.coords.i32 (int32 [N, 4] = batch, x, y, z) for the peer scripts of bench/peers/.
inline void dumpCoordinates(const std::string &dir, const BenchInput &input) {
  std::ofstream(dir + "/" + input.label + ".coords.i32", std::ios::binary)
      .write(reinterpret_cast<const char *>(input.coordinates.data()), input.coordinates.size() * sizeof(Coordinate));
}

// The command line of the per-scan benchmarks: `[--out results.json] [--dump-coordinates DIR]
// input [input ...]`.
struct ScanArguments {
  std::string outPath, coordinatesDir;
  std::vector<std::string> scans;
};
inline ScanArguments parseScanArguments(int argc, char **argv) {
  ScanArguments parsed;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--out" && i + 1 < argc)
      parsed.outPath = argv[++i];
    else if (arg == "--dump-coordinates" && i + 1 < argc)
      parsed.coordinatesDir = argv[++i];
    else
      parsed.scans.push_back(arg);
  }
  return parsed;
}

inline void writeReport(const nlohmann::json &report, const std::string &path) {
  if (path.empty())
    return;
  writeFileAtomically(path, report.dump(2) + "\n");
  fmt::print("wrote {}\n", path);
}

} // namespace sparsekgen::reports
