// Kernel maps on the CPU: for every output point and kernel offset, the input point it reads.
// This builder is the reference the GPU builder is checked against.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace sparsekgen {

// One row of the int32 [N, 4] coordinate tensor: (batch, x, y, z).
#if defined(__CUDACC__)
#define SPARSEKGEN_HOST_DEVICE __host__ __device__
#else
#define SPARSEKGEN_HOST_DEVICE
#endif

struct Coordinate {
  int32_t batch, x, y, z;
};
// Spelled out rather than defaulted: this header is also compiled as CUDA, in C++17, and the GPU
// builders compare coordinates on the device.
SPARSEKGEN_HOST_DEVICE inline bool operator==(const Coordinate &a, const Coordinate &b) {
  return a.batch == b.batch && a.x == b.x && a.y == b.y && a.z == b.z;
}
SPARSEKGEN_HOST_DEVICE inline bool operator!=(const Coordinate &a, const Coordinate &b) { return !(a == b); }
// Lexicographic on (batch, x, y, z): the order of sorted output coordinates.
SPARSEKGEN_HOST_DEVICE inline bool operator<(const Coordinate &a, const Coordinate &b) {
  if (a.batch != b.batch)
    return a.batch < b.batch;
  if (a.x != b.x)
    return a.x < b.x;
  if (a.y != b.y)
    return a.y < b.y;
  return a.z < b.z;
}

// Plain per-axis kernel parameters, usable in device code.
struct KernelShape {
  int size[3];
  int stride[3];
  int dilation[3];
};

struct ConvGeometry {
  std::array<int, 3> kernelSize{3, 3, 3};
  std::array<int, 3> stride{1, 1, 1};
  std::array<int, 3> dilation{1, 1, 1};

  int volume() const { return kernelSize[0] * kernelSize[1] * kernelSize[2]; }
  bool strided() const { return stride[0] != 1 || stride[1] != 1 || stride[2] != 1; }
  KernelShape shape() const {
    return {{kernelSize[0], kernelSize[1], kernelSize[2]}, {stride[0], stride[1], stride[2]},
            {dilation[0], dilation[1], dilation[2]}};
  }
};

SPARSEKGEN_HOST_DEVICE inline int floorDivide(int value, int divisor) {
  int quotient = value / divisor;
  return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient;
}

// Offset k in TorchSparse 2.x order, so weights [volume, Cin, Cout] port unchanged: per axis
// arange(-size//2 + 1, size//2 + 1) * dilation (floor division); x varies fastest when the volume
// is odd, z fastest when it is even. The one definition for the CPU and the GPU builders.
SPARSEKGEN_HOST_DEVICE inline void kernelOffsetAt(const KernelShape &shape, int k, int offset[3]) {
  const int *n = shape.size;
  int index[3];
  if ((n[0] * n[1] * n[2]) % 2 == 1) {
    index[0] = k % n[0];
    index[1] = (k / n[0]) % n[1];
    index[2] = k / (n[0] * n[1]);
  } else {
    index[2] = k % n[2];
    index[1] = (k / n[2]) % n[1];
    index[0] = k / (n[2] * n[1]);
  }
  for (int axis = 0; axis < 3; ++axis)
    offset[axis] = (index[axis] + floorDivide(-n[axis], 2) + 1) * shape.dilation[axis];
}

// All offsets of `geometry`, in order (kernelOffsetAt for k = 0 .. volume - 1). Throws RuntimeError
// for a size, stride or dilation below 1.
std::vector<std::array<int, 3>> kernelOffsets(const ConvGeometry &geometry);

struct KernelMap {
  std::vector<Coordinate> outputs; // output coordinates (the inputs' for submanifold maps)
  int inputCount = 0;
  int volume = 0;
  std::vector<int32_t> outInMap;   // [outputs.size(), volume], -1 where there is no input

  int outputCount() const { return static_cast<int>(outputs.size()); }
  // (output, input) pairs: the entries that are not -1.
  long long pairCount() const {
    long long pairs = 0;
    for (int32_t i : outInMap)
      pairs += i >= 0;
    return pairs;
  }
  int32_t at(int output, int offset) const { return outInMap[static_cast<size_t>(output) * volume + offset]; }
};

// Submanifold (stride 1: outputs are the inputs, in order) or strided (outputs are the inputs'
// coordinates floor-divided by the stride, de-duplicated, sorted by (batch, x, y, z)); output j
// reads input i at outputs[j] * stride + offset(k). Duplicate input coordinates throw RuntimeError
// naming both rows.
KernelMap buildKernelMapCpu(const std::vector<Coordinate> &inputs, const ConvGeometry &geometry);

// Throws RuntimeError naming the first row that repeats an earlier row's coordinate, and that row.
void requireUniqueCoordinates(const std::vector<Coordinate> &coordinates);

// Throws RuntimeError naming the first row whose batch is negative or whose x, y or z lies outside
// [-2^30, 2^30) (the range in which strides and offsets cannot overflow int32).
void requireCoordinatesInRange(const std::vector<Coordinate> &coordinates);

// The map of the transposed (upsampling) convolution that mirrors `strided`: its outputs are the
// strided convolution's inputs (`strided.inputCount` rows, coordinates `fineCoordinates`), and
// output i reads coarse input j at offset k exactly where the strided map has strided[j][k] = i.
KernelMap transposedKernelMapCpu(const KernelMap &strided, const std::vector<Coordinate> &fineCoordinates);

// Generative transposed convolution: outputs are every inputs[j] * stride + offset(k),
// de-duplicated and sorted; output o reads input j at offset k where o = inputs[j] * stride + offset(k).
KernelMap generativeTransposedKernelMapCpu(const std::vector<Coordinate> &inputs, const ConvGeometry &geometry);

// The derived structures some dataflows need, all from one out_in_map.
struct KernelMapExtras {
  // [inputCount, volume]: the output that reads input i at offset k, or -1 (for input gradients).
  std::vector<int32_t> inOutMap;
  // Gather-GEMM-scatter pairs grouped by offset, in output order within an offset:
  // pairs of offset k are [pairOffsets[k], pairOffsets[k + 1]).
  std::vector<int32_t> pairOffsets; // volume + 1
  std::vector<int32_t> pairInputs, pairOutputs;
  // [outputCount, maskWords]: bit k % 32 of word k / 32 set where out_in_map[j][k] >= 0.
  int maskWords = 0;
  std::vector<uint32_t> bitmasks;
  // Split-mask dataflows: offsets in `splits` contiguous groups of ceil(volume / splits) offsets.
  // For each group, the stable descending sort of the rows by the group's mask bits (offset
  // groupStart + b is bit b): splitPermutations[g * outputCount + r] is the output at sorted position r.
  int splits = 0;
  std::vector<int32_t> splitPermutations;
  // For each group and each tile of `tileRows` consecutive sorted rows, the OR of the rows' group
  // masks: tileMasks[(g * tiles + t) * groupMaskWords + w].
  int tileRows = 0, groupMaskWords = 0;
  std::vector<uint32_t> tileMasks;
};

// `splits` >= 1, `tileRows` >= 1.
KernelMapExtras kernelMapExtrasCpu(const KernelMap &map, int splits, int tileRows);

// Offsets [first, last) of split group g of `volume` offsets in `splits` groups.
std::pair<int, int> splitGroupRange(int volume, int splits, int group);

// 32-bit words of a bitmask of `offsets` bits: at least one, so an empty group still has a word.
SPARSEKGEN_HOST_DEVICE inline int maskWordCount(int offsets) { return offsets > 32 ? (offsets + 31) / 32 : 1; }
// Offsets per split group: ceil(volume / splits) (the last group may have fewer).
SPARSEKGEN_HOST_DEVICE inline int splitGroupWidth(int volume, int splits) { return (volume + splits - 1) / splits; }
// Words of one split group's row and tile masks (the mask_words argument of masked kernels).
SPARSEKGEN_HOST_DEVICE inline int groupMaskWordCount(int volume, int splits) {
  return maskWordCount(splitGroupWidth(volume, splits));
}

} // namespace sparsekgen
