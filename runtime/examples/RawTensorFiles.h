// Raw tensor files of the example programs: rows of values with no header (shapes are given on
// the command line and printed beside the outputs).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/NetworkExecutor.h"

namespace sparsekgen::examples {

// Rows of `rowWidth` values of T; RuntimeError naming the file when it is not a whole number of rows.
template <typename T> std::vector<T> readRaw(const std::string &path, size_t rowWidth, const char *what) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in)
    throw RuntimeError(fmt::format("{}: cannot open {}", what, path));
  const auto bytes = static_cast<size_t>(in.tellg());
  if (bytes % (sizeof(T) * rowWidth) != 0)
    throw RuntimeError(fmt::format("{} {}: {} bytes is not a whole number of rows of {} values", what, path, bytes,
                                   rowWidth));
  std::vector<T> values(bytes / sizeof(T));
  in.seekg(0);
  in.read(reinterpret_cast<char *>(values.data()), static_cast<std::streamsize>(bytes));
  return values;
}

// Each output as <outDir>/<name>.f32 (float32 [rows, channels]), with a line saying its shape.
inline void writeOutputs(const std::map<std::string, DeviceTensor> &outputs, uint32_t dtype,
                         const std::string &outDir) {
  std::filesystem::create_directories(outDir);
  for (const auto &[name, tensor] : outputs) {
    std::vector<uint8_t> bytes(static_cast<size_t>(tensor.rows) * tensor.channels * elementBytes(dtype));
    checkCuda(cuMemcpyDtoH(bytes.data(), tensor.data, bytes.size()), "cuMemcpyDtoH", "(output " + name + ")");
    auto values = decodeElements(bytes, dtype);
    const std::string path = (std::filesystem::path(outDir) / (name + ".f32")).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char *>(values.data()), static_cast<std::streamsize>(values.size() * 4));
    fmt::print("{}: [{}, {}] -> {}\n", name, tensor.rows, tensor.channels, path);
  }
}

} // namespace sparsekgen::examples
