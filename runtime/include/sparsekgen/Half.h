// IEEE 754 binary16 conversions for host code (test data, references) without CUDA headers.
#pragma once

#include <cstdint>
#include <vector>

namespace sparsekgen {

float halfToFloat(uint16_t bits);
uint16_t floatToHalf(float value); // round to nearest even

std::vector<float> halvesToFloats(const std::vector<uint16_t> &halves);

} // namespace sparsekgen
