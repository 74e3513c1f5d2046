#include "sparsekgen/WeightTensorMapLayout.h"

#include <fmt/format.h>

#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {
constexpr uint32_t kBoxEdge = 64; // 64 16-bit elements: one 128-byte swizzle row
} // namespace

WeightTensorMapLayout weightTensorMapLayout(uint64_t address, uint32_t dtype, int volume, int in, int out) {
  auto fail = [&](const std::string &why) {
    return RuntimeError(
        fmt::format("a TMA tensor map of the weight [{}, {}, {}] at 0x{:x}: {}", volume, in, out, address, why));
  };
  if (dtype != SKG_F16 && dtype != SKG_BF16)
    throw fail(fmt::format("{} weights have no TMA kernels (f16 and bf16 only)",
                           dtype < dtypeSpellings().size() ? dtypeSpellings()[dtype] : "an unknown type"));
  if (volume <= 0 || in <= 0 || out <= 0)
    throw fail("every extent must be positive");
  if (address % 16 != 0)
    throw fail("the address must be 16-byte aligned");
  if (out % 8 != 0)
    throw fail("out channels must be a multiple of 8 (rows of a multiple of 16 bytes)");
  const uint64_t bytes = elementBytes(dtype);
  WeightTensorMapLayout layout;
  layout.dims = {static_cast<uint64_t>(out), static_cast<uint64_t>(in), static_cast<uint64_t>(volume)};
  layout.strides = {layout.dims[0] * bytes, layout.dims[0] * layout.dims[1] * bytes};
  layout.box = {kBoxEdge, kBoxEdge, 1};
  return layout;
}

} // namespace sparsekgen
