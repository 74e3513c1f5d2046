#include "sparsekgen/Safetensors.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/BundleAbi.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/OutputFiles.h"

namespace sparsekgen {

namespace {

// The format stores little-endian data; so does every machine this runs on (x86-64, aarch64).
static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

const std::map<std::string, uint32_t> &storedTypes() {
  static const std::map<std::string, uint32_t> types = {{"F32", SKG_F32}, {"F16", SKG_F16}, {"BF16", SKG_BF16}};
  return types;
}

} // namespace

void saveSafetensors(const std::string &path, const NetworkParameters &values,
                     const std::vector<ParameterShape> &shapes) {
  std::map<std::string, const ParameterShape *> shapeOf;
  for (const auto &s : shapes)
    shapeOf[s.name] = &s;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  size_t offset = 0;
  for (const auto &[name, data] : values) {
    auto it = shapeOf.find(name);
    if (it == shapeOf.end())
      throw RuntimeError(fmt::format("{}: tensor '{}' has no shape", path, name));
    if (it->second->elements() != static_cast<int64_t>(data.size()))
      throw RuntimeError(fmt::format("{}: tensor '{}' holds {} values, its shape {} elements", path, name, data.size(),
                                     it->second->elements()));
    header[name] = {
        {"dtype", "F32"}, {"shape", it->second->shape}, {"data_offsets", {offset, offset + data.size() * 4}}};
    offset += data.size() * 4;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' '); // the data starts 8-byte aligned
  writeFileAtomically(path, [&](std::ostream &out) {
    const uint64_t length = text.size();
    out.write(reinterpret_cast<const char *>(&length), sizeof(length));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto &[name, data] : values)
      out.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size() * 4));
  });
}

NetworkParameters loadSafetensors(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw RuntimeError(fmt::format("{}: cannot open the file", path));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t length = 0;
  if (bytes.size() < sizeof(length))
    throw RuntimeError(fmt::format("{}: not a safetensors file (shorter than its header length)", path));
  std::memcpy(&length, bytes.data(), sizeof(length));
  if (length > bytes.size() - sizeof(length))
    throw RuntimeError(
        fmt::format("{}: header length {} past the end of the file ({} bytes)", path, length, bytes.size()));
  nlohmann::json header = nlohmann::json::parse(bytes.substr(sizeof(length), length), nullptr, false);
  if (!header.is_object())
    throw RuntimeError(fmt::format("{}: the header is not a JSON object", path));
  const size_t dataStart = sizeof(length) + length, dataBytes = bytes.size() - dataStart;
  NetworkParameters tensors;
  for (const auto &[name, entry] : header.items()) {
    if (name == "__metadata__")
      continue;
    auto fail = [&](const std::string &what) {
      return RuntimeError(fmt::format("{}: tensor '{}': {}", path, name, what));
    };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      throw fail("needs dtype, shape and data_offsets");
    auto type = storedTypes().find(entry["dtype"].is_string() ? entry["dtype"].get<std::string>() : "");
    if (type == storedTypes().end())
      throw fail(fmt::format("dtype {} is not one of F32, F16, BF16", entry["dtype"].dump()));
    uint64_t elements = 1;
    for (const auto &d : entry["shape"]) {
      if (!d.is_number_unsigned())
        throw fail("shape holds a value that is not a non-negative integer");
      elements *= d.get<uint64_t>();
    }
    const auto &offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      throw fail("data_offsets must be two non-negative integers");
    const uint64_t begin = offsets[0], end = offsets[1];
    const uint64_t width = elementBytes(type->second);
    if (begin > end || end > dataBytes || end - begin != elements * width)
      throw fail(fmt::format("data_offsets [{}, {}] do not hold {} elements of {} bytes inside the {} data bytes",
                             begin, end, elements, width, dataBytes));
    std::vector<uint8_t> raw(bytes.begin() + static_cast<std::ptrdiff_t>(dataStart + begin),
                             bytes.begin() + static_cast<std::ptrdiff_t>(dataStart + end));
    tensors[name] = decodeElements(raw, type->second);
  }
  return tensors;
}

} // namespace sparsekgen
