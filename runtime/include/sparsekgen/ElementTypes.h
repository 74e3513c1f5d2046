// Host conversions of the tensor element types (fp16, bf16, fp32) for test data, references and
// results: the CUDA headers' conversions (cuda_fp16.h, cuda_bf16.h) behind an interface that does not
// include them, so code using it needs no CUDA include path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sparsekgen {

float halfToFloat(uint16_t bits);
uint16_t floatToHalf(float value); // round to nearest even
float bfloat16ToFloat(uint16_t bits);
uint16_t floatToBfloat16(float value); // round to nearest even

std::vector<float> halvesToFloats(const std::vector<uint16_t> &halves);

// Encodes `values` as elements of `dtype` (a skg_dtype: SKG_F16, SKG_BF16 or SKG_F32), rounding
// to nearest even; decodes such bytes back to floats.
std::vector<uint8_t> encodeElements(const std::vector<float> &values, uint32_t dtype);
std::vector<float> decodeElements(const std::vector<uint8_t> &bytes, uint32_t dtype);

// The skg_dtype of "f16", "bf16" or "f32"; RuntimeError for another name.
uint32_t dtypeFromName(const std::string &name);

// `value` rounded to the nearest `dtype` value (what a kernel reads after the host encodes it).
float roundToElement(float value, uint32_t dtype);

} // namespace sparsekgen
