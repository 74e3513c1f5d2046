// What every benchmark's JSON result shares: the date, the GPU, and the write to --out.
#pragma once

#include <chrono>
#include <ctime>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/Context.h"

namespace sparsekgen::bench {

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

inline void writeReport(const nlohmann::json &report, const std::string &path) {
  if (path.empty())
    return;
  std::ofstream(path) << report.dump(2) << "\n";
  fmt::print("wrote {}\n", path);
}

} // namespace sparsekgen::bench
