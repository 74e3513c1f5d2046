// Kernel maps on the CPU: for every output point and kernel offset, the input point it reads.
// This builder is the reference the GPU builder is checked against.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sparsekgen {

// One row of the int32 [N, 4] coordinate tensor: (batch, x, y, z).
struct Coordinate {
  int32_t batch, x, y, z;
  bool operator==(const Coordinate &) const = default;
  auto operator<=>(const Coordinate &) const = default;
};

struct ConvGeometry {
  std::array<int, 3> kernelSize{3, 3, 3};
  std::array<int, 3> stride{1, 1, 1};
  std::array<int, 3> dilation{1, 1, 1};

  int volume() const { return kernelSize[0] * kernelSize[1] * kernelSize[2]; }
  bool strided() const { return stride != std::array<int, 3>{1, 1, 1}; }
};

// Kernel offsets in TorchSparse 2.x order, so weights [volume, Cin, Cout] port unchanged: per axis
// arange(-size//2 + 1, size//2 + 1) * dilation (floor division); x varies fastest when the volume
// is odd, z fastest when it is even.
std::vector<std::array<int, 3>> kernelOffsets(const ConvGeometry &geometry);

struct KernelMap {
  std::vector<Coordinate> outputs; // output coordinates (the inputs' for submanifold maps)
  int inputCount = 0;
  int volume = 0;
  std::vector<int32_t> outInMap;   // [outputs.size(), volume], -1 where there is no input

  int outputCount() const { return static_cast<int>(outputs.size()); }
  int32_t at(int output, int offset) const { return outInMap[static_cast<size_t>(output) * volume + offset]; }
};

// Submanifold (stride 1: outputs are the inputs, in order) or strided (outputs are the inputs'
// coordinates floor-divided by the stride, de-duplicated, sorted by (batch, x, y, z)); output j
// reads input i at outputs[j] * stride + offset(k). Duplicate input coordinates throw RuntimeError
// naming both rows.
KernelMap buildKernelMapCpu(const std::vector<Coordinate> &inputs, const ConvGeometry &geometry);

} // namespace sparsekgen
