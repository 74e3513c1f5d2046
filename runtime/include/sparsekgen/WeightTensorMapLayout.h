// The TMA tensor map that warpgroup_mma_tma kernels read a convolution weight through: what
// Context::weightTensorMap encodes, described without CUDA so that it can be checked on any machine.
// W [volume, in, out] is a 3-D tensor, innermost first (out, in, volume); a box is 64 x 64 x 1
// elements (one 128-byte swizzle row of 16-bit elements by 64 K rows of one offset).
#pragma once

#include <array>
#include <cstdint>

namespace sparsekgen {

struct WeightTensorMapLayout {
  std::array<uint64_t, 3> dims{};    // elements, innermost first: out, in, volume
  std::array<uint64_t, 2> strides{}; // bytes between consecutive indices of dims 1 and 2
  std::array<uint32_t, 3> box{};     // elements of one copy, innermost first
};

// Throws RuntimeError naming the weight's shape and address when TMA cannot describe it: a type
// other than f16 or bf16 (`dtype` a skg_dtype), a non-positive extent, an address not 16-byte
// aligned or out channels not a multiple of 8 (TMA strides are multiples of 16 bytes).
WeightTensorMapLayout weightTensorMapLayout(uint64_t address, uint32_t dtype, int volume, int in, int out);

} // namespace sparsekgen
