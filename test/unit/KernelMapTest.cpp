#include <gtest/gtest.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/KernelMap.h"

namespace sparsekgen {
namespace {

using Offsets = std::vector<std::array<int, 3>>;

TEST(KernelOffsets, OddVolumeHasXFastestAsTorchSparse) {
  auto offsets = kernelOffsets(ConvGeometry{});
  ASSERT_EQ(offsets.size(), 27u);
  EXPECT_EQ(offsets[0], (std::array<int, 3>{-1, -1, -1}));
  EXPECT_EQ(offsets[1], (std::array<int, 3>{0, -1, -1}));
  EXPECT_EQ(offsets[2], (std::array<int, 3>{1, -1, -1}));
  EXPECT_EQ(offsets[3], (std::array<int, 3>{-1, 0, -1}));
  EXPECT_EQ(offsets[9], (std::array<int, 3>{-1, -1, 0}));
  EXPECT_EQ(offsets[13], (std::array<int, 3>{0, 0, 0})); // centre in the middle
  EXPECT_EQ(offsets[26], (std::array<int, 3>{1, 1, 1}));
}

TEST(KernelOffsets, EvenVolumeHasZFastestAsTorchSparse) {
  auto offsets = kernelOffsets(ConvGeometry{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}});
  EXPECT_EQ(offsets, (Offsets{{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 1, 1}, {1, 0, 0}, {1, 0, 1}, {1, 1, 0}, {1, 1, 1}}));
}

TEST(KernelOffsets, EvenSizeFourSpansMinusOneToTwo) {
  // arange(-4 // 2 + 1, 4 // 2 + 1) = [-1, 0, 1, 2]
  auto offsets = kernelOffsets(ConvGeometry{{4, 1, 1}, {1, 1, 1}, {1, 1, 1}});
  EXPECT_EQ(offsets, (Offsets{{-1, 0, 0}, {0, 0, 0}, {1, 0, 0}, {2, 0, 0}}));
}

TEST(KernelOffsets, DilationScalesOffsets) {
  auto offsets = kernelOffsets(ConvGeometry{{3, 1, 1}, {1, 1, 1}, {2, 1, 1}});
  EXPECT_EQ(offsets, (Offsets{{-2, 0, 0}, {0, 0, 0}, {2, 0, 0}}));
}

TEST(KernelOffsets, AnisotropicOddVolume) {
  auto offsets = kernelOffsets(ConvGeometry{{3, 1, 3}, {1, 1, 1}, {1, 1, 1}});
  ASSERT_EQ(offsets.size(), 9u);
  EXPECT_EQ(offsets[1], (std::array<int, 3>{0, 0, -1}));
  EXPECT_EQ(offsets[3], (std::array<int, 3>{-1, 0, 0}));
}

TEST(KernelMapCpu, SubmanifoldOnALine) {
  // Points at x = 0, 1, 3 on one line; 3x1x1 kernel, offsets (-1, 0, +1).
  std::vector<Coordinate> points = {{0, 0, 0, 0}, {0, 1, 0, 0}, {0, 3, 0, 0}};
  auto map = buildKernelMapCpu(points, ConvGeometry{{3, 1, 1}, {1, 1, 1}, {1, 1, 1}});
  EXPECT_EQ(map.outputs, points);
  EXPECT_EQ(map.volume, 3);
  EXPECT_EQ(map.outInMap, (std::vector<int32_t>{-1, 0, 1, /**/ 0, 1, -1, /**/ -1, 2, -1}));
}

TEST(KernelMapCpu, BatchesNeverMix) {
  std::vector<Coordinate> points = {{0, 0, 0, 0}, {1, 1, 0, 0}};
  auto map = buildKernelMapCpu(points, ConvGeometry{{3, 1, 1}, {1, 1, 1}, {1, 1, 1}});
  EXPECT_EQ(map.outInMap, (std::vector<int32_t>{-1, 0, -1, -1, 1, -1}));
}

TEST(KernelMapCpu, StridedOutputsAreFloorDividedSortedAndUnique) {
  std::vector<Coordinate> points = {{0, 3, 0, 0}, {0, -1, 0, 0}, {0, 2, 1, 0}, {0, 0, 0, 1}};
  auto map = buildKernelMapCpu(points, ConvGeometry{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}});
  // floor(-1/2) = -1; (3,0,0) and (2,1,0) both land in (1,0,0); (0,0,1) in (0,0,0).
  EXPECT_EQ(map.outputs, (std::vector<Coordinate>{{0, -1, 0, 0}, {0, 0, 0, 0}, {0, 1, 0, 0}}));
  ASSERT_EQ(map.volume, 8);
  // Offsets z fastest: (0,0,0) (0,0,1) (0,1,0) (0,1,1) (1,0,0) (1,0,1) (1,1,0) (1,1,1).
  EXPECT_EQ(map.at(0, 4), 1); // (-2,0,0) + (1,0,0) = (-1,0,0)
  EXPECT_EQ(map.at(1, 1), 3); // (0,0,0) + (0,0,1)
  EXPECT_EQ(map.at(2, 2), 2); // (2,0,0) + (0,1,0) = (2,1,0)
  EXPECT_EQ(map.at(2, 4), 0); // (2,0,0) + (1,0,0) = (3,0,0)
  int found = 0;
  for (int32_t i : map.outInMap)
    found += i >= 0;
  EXPECT_EQ(found, 4); // each input read exactly once by a 2x2x2 stride-2 kernel
}

TEST(KernelMapCpu, StridedWithThreeByThreeReachesNeighbours) {
  std::vector<Coordinate> points = {{0, 0, 0, 0}, {0, 1, 0, 0}, {0, 2, 0, 0}};
  auto map = buildKernelMapCpu(points, ConvGeometry{{3, 1, 1}, {2, 1, 1}, {1, 1, 1}});
  EXPECT_EQ(map.outputs, (std::vector<Coordinate>{{0, 0, 0, 0}, {0, 1, 0, 0}}));
  EXPECT_EQ(map.outInMap, (std::vector<int32_t>{-1, 0, 1, /**/ 1, 2, -1}));
}

TEST(KernelMapCpu, DuplicateCoordinatesNameBothRows) {
  std::vector<Coordinate> points = {{0, 1, 2, 3}, {0, 5, 5, 5}, {0, 1, 2, 3}};
  try {
    buildKernelMapCpu(points, ConvGeometry{});
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("at rows 0 and 2"), std::string::npos) << error.what();
  }
}

TEST(KernelMapCpu, EmptyInputGivesEmptyMap) {
  auto map = buildKernelMapCpu({}, ConvGeometry{});
  EXPECT_EQ(map.outputCount(), 0);
  EXPECT_TRUE(map.outInMap.empty());
}

TEST(KernelMapCpu, NonPositiveGeometryIsRefused) {
  EXPECT_THROW(kernelOffsets(ConvGeometry{{0, 3, 3}, {1, 1, 1}, {1, 1, 1}}), RuntimeError);
}

} // namespace
} // namespace sparsekgen

namespace sparsekgen {
namespace {

TEST(KernelMapCpu, TransposedMapInvertsTheStridedMap) {
  std::vector<Coordinate> fine = {{0, 0, 0, 0}, {0, 1, 0, 0}, {0, 2, 0, 0}};
  auto strided = buildKernelMapCpu(fine, ConvGeometry{{3, 1, 1}, {2, 1, 1}, {1, 1, 1}});
  // strided: out 0 reads (-1, 0, 1) = (-, 0, 1); out 1 reads (1, 2, 3) = (1, 2, -)
  auto transposed = transposedKernelMapCpu(strided, fine);
  EXPECT_EQ(transposed.outputs, fine);
  EXPECT_EQ(transposed.inputCount, 2);
  // fine 0 is read by coarse 0 at k = 1; fine 1 by coarse 0 at k = 2 and coarse 1 at k = 0; fine 2 by coarse 1 at k = 1.
  EXPECT_EQ(transposed.outInMap, (std::vector<int32_t>{-1, 0, -1, /**/ 1, -1, 0, /**/ -1, 1, -1}));
}

TEST(KernelMapCpu, GenerativeTransposedReachesEveryOutput) {
  std::vector<Coordinate> coarse = {{0, 0, 0, 0}, {0, 1, 0, 0}};
  auto map = generativeTransposedKernelMapCpu(coarse, ConvGeometry{{2, 1, 1}, {2, 1, 1}, {1, 1, 1}});
  // outputs 2j + {0, 1}: 0, 1 from input 0 and 2, 3 from input 1.
  EXPECT_EQ(map.outputs, (std::vector<Coordinate>{{0, 0, 0, 0}, {0, 1, 0, 0}, {0, 2, 0, 0}, {0, 3, 0, 0}}));
  EXPECT_EQ(map.outInMap, (std::vector<int32_t>{0, -1, /**/ -1, 0, /**/ 1, -1, /**/ -1, 1}));
}

TEST(KernelMapCpu, ExtrasOfAHandBuiltMap) {
  KernelMap map;
  map.inputCount = 3;
  map.volume = 3;
  map.outputs = {{0, 0, 0, 0}, {0, 1, 0, 0}, {0, 2, 0, 0}, {0, 3, 0, 0}};
  map.outInMap = {-1, 0, 1, /**/ 0, 1, -1, /**/ -1, -1, 2, /**/ 2, -1, -1};
  auto extras = kernelMapExtrasCpu(map, /*splits=*/2, /*tileRows=*/2);
  EXPECT_EQ(extras.inOutMap, (std::vector<int32_t>{1, 0, -1, /**/ -1, 1, 0, /**/ 3, -1, 2}));
  EXPECT_EQ(extras.pairOffsets, (std::vector<int32_t>{0, 2, 4, 6}));
  EXPECT_EQ(extras.pairInputs, (std::vector<int32_t>{0, 2, 0, 1, 1, 2}));
  EXPECT_EQ(extras.pairOutputs, (std::vector<int32_t>{1, 3, 0, 1, 0, 2}));
  EXPECT_EQ(extras.maskWords, 1);
  EXPECT_EQ(extras.bitmasks, (std::vector<uint32_t>{0b110, 0b011, 0b100, 0b001}));
  // Groups of ceil(3 / 2) = 2 offsets: {0, 1} and {2}. Group masks {0b10, 0b11, 0b00, 0b01} sort
  // descending to rows 1, 0, 3, 2; group 1 masks {1, 0, 1, 0} to rows 0, 2, 1, 3 (stable).
  EXPECT_EQ(extras.splitPermutations, (std::vector<int32_t>{1, 0, 3, 2, /**/ 0, 2, 1, 3}));
  EXPECT_EQ(extras.groupMaskWords, 1);
  EXPECT_EQ(extras.tileMasks, (std::vector<uint32_t>{0b11, 0b01, /**/ 0b1, 0b0}));
}

} // namespace
} // namespace sparsekgen
