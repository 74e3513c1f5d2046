#include "sparsekgen/ElementTypes.h"

#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"

#include <bit>
#include <cmath>

namespace sparsekgen {

float halfToFloat(uint16_t bits) {
  uint32_t sign = (bits >> 15) & 1u, exponent = (bits >> 10) & 0x1fu, mantissa = bits & 0x3ffu;
  float magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31)
    magnitude = mantissa ? std::nanf("") : INFINITY;
  else
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  return sign ? -magnitude : magnitude;
}

uint16_t floatToHalf(float value) {
  uint32_t x = std::bit_cast<uint32_t>(value);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) // inf or nan
    return sign | (magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u);
  if (magnitude >= 0x477ff000u) // rounds past the largest half
    return sign | 0x7c00u;
  if (magnitude < 0x38800000u) { // subnormal half: scale by 2^24 and round
    float scaled = std::bit_cast<float>(magnitude) * 16777216.0f;
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u) - (112u << 23);
  return sign | static_cast<uint16_t>(rounded >> 13);
}

float bfloat16ToFloat(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t floatToBfloat16(float value) {
  uint32_t x = std::bit_cast<uint32_t>(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) // NaN: keep it a NaN
    return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

std::vector<uint8_t> encodeElements(const std::vector<float> &values, uint32_t dtype) {
  std::vector<uint8_t> bytes(values.size() * elementBytes(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == SKG_F32) {
      std::memcpy(&bytes[4 * i], &values[i], 4);
      continue;
    }
    uint16_t bits = dtype == SKG_BF16 ? floatToBfloat16(values[i]) : floatToHalf(values[i]);
    std::memcpy(&bytes[2 * i], &bits, 2);
  }
  return bytes;
}

std::vector<float> decodeElements(const std::vector<uint8_t> &bytes, uint32_t dtype) {
  size_t size = elementBytes(dtype);
  std::vector<float> values(bytes.size() / size);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == SKG_F32) {
      std::memcpy(&values[i], &bytes[4 * i], 4);
      continue;
    }
    uint16_t bits;
    std::memcpy(&bits, &bytes[2 * i], 2);
    values[i] = dtype == SKG_BF16 ? bfloat16ToFloat(bits) : halfToFloat(bits);
  }
  return values;
}

float roundToElement(float value, uint32_t dtype) {
  if (dtype == SKG_F32)
    return value;
  return dtype == SKG_BF16 ? bfloat16ToFloat(floatToBfloat16(value)) : halfToFloat(floatToHalf(value));
}

std::vector<float> halvesToFloats(const std::vector<uint16_t> &halves) {
  std::vector<float> floats(halves.size());
  for (size_t i = 0; i < halves.size(); ++i)
    floats[i] = halfToFloat(halves[i]);
  return floats;
}

uint32_t dtypeFromName(const std::string &name) {
  if (auto dtype = findSpelling(dtypeSpellings(), name))
    return *dtype;
  throw RuntimeError(fmt::format("unknown element type '{}' (expected {})", name, fmt::join(dtypeSpellings(), ", ")));
}

} // namespace sparsekgen
