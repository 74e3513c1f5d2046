#include "sparsekgen/ElementTypes.h"

#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

// The CUDA headers' own host conversions (round to nearest even, NaN kept a NaN), on the raw bits.
float halfToFloat(uint16_t bits) {
  __half_raw raw;
  raw.x = bits;
  return __half2float(__half(raw));
}

uint16_t floatToHalf(float value) { return static_cast<__half_raw>(__float2half_rn(value)).x; }

float bfloat16ToFloat(uint16_t bits) {
  __nv_bfloat16_raw raw;
  raw.x = bits;
  return __bfloat162float(__nv_bfloat16(raw));
}

uint16_t floatToBfloat16(float value) { return static_cast<__nv_bfloat16_raw>(__float2bfloat16_rn(value)).x; }

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
