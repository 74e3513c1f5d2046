#include <gtest/gtest.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/PointCloud.h"

namespace sparsekgen {
namespace {

TEST(VoxelizeCpu, SortedVoxelsWithFirstPointAndMeans) {
  // x y z w rows; voxel size 1.
  PointCloud cloud{{0.5f, 0.5f, 0.5f, 1.0f,  // voxel (0, 0, 0)
                    -0.5f, 0.0f, 0.0f, 2.0f, // voxel (-1, 0, 0)
                    0.9f, 0.1f, 0.2f, 3.0f,  // voxel (0, 0, 0) again
                    2.0f, 0.0f, 0.0f, 4.0f}, // voxel (2, 0, 0), batch 3
                   4};
  auto voxels = voxelizeCpu(cloud, 1.0f, VoxelReduction::MeanFeatures, {0, 0, 0, 3});
  EXPECT_EQ(voxels.coordinates, (std::vector<Coordinate>{{0, -1, 0, 0}, {0, 0, 0, 0}, {3, 2, 0, 0}}));
  EXPECT_EQ(voxels.firstPoint, (std::vector<int32_t>{1, 0, 3}));
  ASSERT_EQ(voxels.meanFeatures.size(), 12u);
  EXPECT_FLOAT_EQ(voxels.meanFeatures[4], 0.7f); // mean x of rows 0 and 2
  EXPECT_FLOAT_EQ(voxels.meanFeatures[7], 2.0f); // mean w of rows 0 and 2
}

TEST(VoxelizeCpu, BadRowsAreNamed) {
  PointCloud cloud{{0.0f, 0.0f, 0.0f, 1e30f, 0.0f, 0.0f}, 3};
  try {
    voxelizeCpu(cloud, 0.05f, VoxelReduction::FirstPoint);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("point row 1"), std::string::npos) << error.what();
  }
  EXPECT_THROW(voxelizeCpu(cloud, 0.0f, VoxelReduction::FirstPoint), RuntimeError);
  EXPECT_THROW(voxelizeCpu(PointCloud{{0, 0, 0}, 3}, 1.0f, VoxelReduction::FirstPoint, {-1}), RuntimeError);
}

TEST(CoordinateChecks, OutOfRangeRowIsNamed) {
  std::vector<Coordinate> coordinates = {{0, 0, 0, 0}, {0, 1 << 30, 0, 0}};
  try {
    requireCoordinatesInRange(coordinates);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("coordinate row 1 (batch 0, x 1073741824"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(requireCoordinatesInRange({{-1, 0, 0, 0}}), RuntimeError);
  EXPECT_NO_THROW(requireCoordinatesInRange({{0, -(1 << 30), (1 << 30) - 1, 0}}));
}

} // namespace
} // namespace sparsekgen
