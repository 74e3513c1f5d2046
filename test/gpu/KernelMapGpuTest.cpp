// The GPU kernel-map builders against their CPU references, element by element: random clouds
// (batch indices that skip values, anisotropic and even kernels, dilation, volumes above 32), the
// real scans, every derived structure, bad input, a 17M-point input at +-2^20, and the cache.
#include <algorithm>
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include <stdexcept>

#include "sparsekgen/Context.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/GpuKernelMaps.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/Voxelize.h"
#include "TestClouds.h"
#include "TestContext.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen {
namespace {

using testclouds::randomCloud;

using testclouds::context;

std::vector<Coordinate> coordinatesOf(const DeviceKernelMap &map) { return map.outputs->download(); }

void expectSameMap(const DeviceKernelMap &gpu, const KernelMap &cpu, const std::string &what) {
  ASSERT_EQ(gpu.inputCount(), cpu.inputCount) << what;
  ASSERT_EQ(gpu.volume, cpu.volume) << what;
  EXPECT_TRUE(coordinatesOf(gpu) == cpu.outputs) << what << ": output coordinates differ";
  auto map = gpu.downloadOutInMap();
  ASSERT_EQ(map.size(), cpu.outInMap.size()) << what;
  size_t mismatches = 0, first = map.size();
  for (size_t i = 0; i < map.size(); ++i)
    if (map[i] != cpu.outInMap[i] && mismatches++ == 0)
      first = i;
  EXPECT_EQ(mismatches, 0u) << what << ": first mismatch at entry " << first;
}

void expectSameExtras(const DeviceKernelMap &gpu, const KernelMap &cpu, int splits, int tileRows,
                      const std::string &what) {
  MapExtrasRequest request{true, true, true, splits, tileRows};
  auto extras = kernelMapExtrasGpu(gpu, request);
  auto reference = kernelMapExtrasCpu(cpu, splits, tileRows);
  EXPECT_EQ(extras.inOutMap.download<int32_t>(), reference.inOutMap) << what << ": inverse map";
  EXPECT_EQ(extras.pairOffsets, reference.pairOffsets) << what << ": pair counts";
  EXPECT_EQ(extras.pairInputs.download<int32_t>(), reference.pairInputs) << what << ": pair inputs";
  EXPECT_EQ(extras.pairOutputs.download<int32_t>(), reference.pairOutputs) << what << ": pair outputs";
  EXPECT_EQ(extras.maskWords, reference.maskWords) << what;
  EXPECT_EQ(extras.bitmasks.download<uint32_t>(), reference.bitmasks) << what << ": bitmasks";
  EXPECT_EQ(extras.groupMaskWords, reference.groupMaskWords) << what;
  EXPECT_EQ(extras.splitPermutations.download<int32_t>(), reference.splitPermutations)
      << what << ": split permutations (S = " << splits << ")";
  EXPECT_EQ(extras.tileMasks.download<uint32_t>(), reference.tileMasks) << what << ": tile masks";
}

struct GeometryCase {
  std::string name;
  ConvGeometry geometry;
};

const std::vector<GeometryCase> &forwardGeometries() {
  static const std::vector<GeometryCase> cases = {
      {"3x3x3", {{3, 3, 3}, {1, 1, 1}, {1, 1, 1}}},
      {"1x1x1", {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}}},
      {"2x2x2_stride1", {{2, 2, 2}, {1, 1, 1}, {1, 1, 1}}},
      {"3x1x3_anisotropic", {{3, 1, 3}, {1, 1, 1}, {1, 1, 1}}},
      {"3x3x3_dilation2", {{3, 3, 3}, {1, 1, 1}, {2, 2, 2}}},
      {"5x5x5_volume125", {{5, 5, 5}, {1, 1, 1}, {1, 1, 1}}},
      {"7x7x7_volume343", {{7, 7, 7}, {1, 1, 1}, {1, 1, 1}}},
      {"4x6x2_even", {{4, 6, 2}, {1, 1, 1}, {1, 1, 1}}},
      {"2x2x2_stride2", {{2, 2, 2}, {2, 2, 2}, {1, 1, 1}}},
      {"3x3x3_stride2", {{3, 3, 3}, {2, 2, 2}, {1, 1, 1}}},
      {"2x2x1_stride221", {{2, 2, 1}, {2, 2, 1}, {1, 1, 1}}},
      {"3x3x3_stride3", {{3, 3, 3}, {3, 3, 3}, {1, 1, 1}}},
  };
  return cases;
}

TEST(KernelMapGpu, ForwardTransposedAndGenerativeMatchCpuOnRandomClouds) {
  context();
  for (int points : {1000, 40000}) {
    auto cloud = randomCloud(points, 11 + points, {0, 3, 7});
    auto coordinates = SparseCoordinates::fromHost(cloud);
    for (const auto &c : forwardGeometries()) {
      std::string what = std::to_string(points) + " points, " + c.name;
      auto gpu = buildKernelMapGpu(coordinates, c.geometry);
      auto cpu = buildKernelMapCpu(cloud, c.geometry);
      expectSameMap(gpu, cpu, what);
      if (c.geometry.strided()) {
        expectSameMap(transposedKernelMapGpu(gpu), transposedKernelMapCpu(cpu, cloud), what + " transposed");
        auto coarse = SparseCoordinates::fromHost(cpu.outputs);
        expectSameMap(generativeTransposedKernelMapGpu(coarse, c.geometry),
                      generativeTransposedKernelMapCpu(cpu.outputs, c.geometry), what + " generative");
      }
    }
  }
}

TEST(KernelMapGpu, DerivedStructuresMatchCpu) {
  context();
  auto cloud = randomCloud(20000, 5, {0, 2});
  auto coordinates = SparseCoordinates::fromHost(cloud);
  for (const auto &c : forwardGeometries()) {
    auto gpu = buildKernelMapGpu(coordinates, c.geometry);
    auto cpu = buildKernelMapCpu(cloud, c.geometry);
    for (int splits = 1; splits <= 4; ++splits) {
      expectSameExtras(gpu, cpu, splits, 128, c.name);
      // Sort inputs of another tile height from these permutations, copied instead of sorted.
      auto tall = kernelMapExtrasGpu(gpu, {.splits = splits, .tileRows = 128});
      auto shorter = kernelMapExtrasGpu(gpu, {.splits = splits, .tileRows = 64}, nullptr, &tall);
      auto reference = kernelMapExtrasCpu(cpu, splits, 64);
      EXPECT_EQ(shorter.splitPermutations.download<int32_t>(), reference.splitPermutations) << c.name << " S " << splits;
      EXPECT_EQ(shorter.tileMasks.download<uint32_t>(), reference.tileMasks) << c.name << " S " << splits;
      EXPECT_EQ(shorter.groupMaskWords, reference.groupMaskWords) << c.name;
    }
    // The permutations are copied, not sorted again: reversed ones come back reversed; and those of
    // another map are refused.
    DeviceKernelMapExtras fake;
    fake.splits = 2;
    std::vector<int32_t> reversed(2 * static_cast<size_t>(cpu.outputCount()));
    for (size_t i = 0; i < reversed.size(); ++i)
      reversed[i] = static_cast<int32_t>((reversed.size() - 1 - i) % cpu.outputCount());
    fake.splitPermutations = DeviceBuffer::from(reversed);
    EXPECT_EQ(kernelMapExtrasGpu(gpu, {.splits = 2, .tileRows = 64}, nullptr, &fake).splitPermutations.download<int32_t>(),
              reversed)
        << c.name;
    fake.splitPermutations = DeviceBuffer::from(std::vector<int32_t>(7, 0));
    EXPECT_THROW(kernelMapExtrasGpu(gpu, {.splits = 2, .tileRows = 64}, nullptr, &fake), std::logic_error) << c.name;
  }
}

struct Scan {
  std::string file;
  int columns;
};

// The real inputs: raw scans voxelized at 0.05 m, and the already voxelized 125k set.
std::vector<std::pair<std::string, std::vector<Coordinate>>> realInputs(std::vector<std::string> *missing) {
  std::vector<std::pair<std::string, std::vector<Coordinate>>> inputs;
  std::string shared = testclouds::sharedDataDirectory();
  for (const Scan &scan : {Scan{"kitti_000000.bin", 4}, Scan{"nuscenes_lidar_top.bin", 5},
                           Scan{"scannet_scene0000_00.bin", 6}}) {
    std::string path = shared + "/scans/" + scan.file;
    if (!std::ifstream(path)) {
      missing->push_back(path);
      continue;
    }
    inputs.emplace_back(scan.file, voxelize(loadPointFile(path, scan.columns), 0.05f));
  }
  inputs.emplace_back("kitti_000008.bin (bundled)",
                      voxelize(loadPointFile(testclouds::testDataDirectory() + "/kitti_000008.bin", 4), 0.05f));
  std::string voxels = shared + "/voxels/spconv_test_125k_coords.i32";
  if (std::ifstream(voxels)) {
    inputs.emplace_back("spconv_test_125k", loadZyxCoordinateFile(voxels));
  } else {
    missing->push_back(voxels);
  }
  return inputs;
}

TEST(KernelMapGpu, MapsMatchCpuOnRealScans) {
  context();
  std::vector<std::string> missing;
  auto inputs = realInputs(&missing);
  for (const auto &path : missing)
    std::printf("  note: %s not found (set SPARSEKGEN_SHARED_DATA); that input is not checked\n", path.c_str());
  for (const auto &[name, cloud] : inputs) {
    auto coordinates = SparseCoordinates::fromHost(cloud);
    ConvGeometry subm, down{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}};
    auto cpuDown = buildKernelMapCpu(cloud, down);
    auto gpuDown = buildKernelMapGpu(coordinates, down);
    expectSameMap(buildKernelMapGpu(coordinates, subm), buildKernelMapCpu(cloud, subm), name + " submanifold");
    expectSameMap(gpuDown, cpuDown, name + " stride 2");
    expectSameMap(transposedKernelMapGpu(gpuDown), transposedKernelMapCpu(cpuDown, cloud), name + " transposed");
    expectSameMap(generativeTransposedKernelMapGpu(gpuDown.outputs, down),
                  generativeTransposedKernelMapCpu(cpuDown.outputs, down), name + " generative");
    expectSameExtras(buildKernelMapGpu(coordinates, subm), buildKernelMapCpu(cloud, subm), 3, 128, name);
    std::printf("  %-28s %7zu voxels: maps identical to the CPU reference\n", name.c_str(), cloud.size());
  }
}

TEST(VoxelizeGpu, MatchesCpuOnRealScansBothReductions) {
  context();
  std::string shared = testclouds::sharedDataDirectory();
  std::vector<Scan> scans = {{testclouds::testDataDirectory() + "/kitti_000008.bin", 4}};
  for (const Scan &scan : {Scan{"kitti_000001.bin", 4}, Scan{"nuscenes_lidar_top.bin", 5},
                           Scan{"sunrgbd_000017.bin", 6}})
    if (std::ifstream(shared + "/scans/" + scan.file))
      scans.push_back({shared + "/scans/" + scan.file, scan.columns});
  for (const Scan &scan : scans) {
    auto cloud = loadPointFile(scan.file, scan.columns);
    std::vector<int32_t> batches(cloud.points());
    for (size_t p = 0; p < batches.size(); ++p)
      batches[p] = p < batches.size() / 2 ? 0 : 2; // two scans in one tensor, batch 1 skipped
    auto points = DeviceBuffer::from(cloud.values);
    auto batchBuffer = DeviceBuffer::from(batches);
    for (auto reduction : {VoxelReduction::FirstPoint, VoxelReduction::MeanFeatures}) {
      auto cpu = voxelizeCpu(cloud, 0.05f, reduction, batches);
      auto gpu = voxelizeGpu(points.get(), static_cast<int>(cloud.points()), cloud.columns, 0.05f, reduction,
                             batchBuffer.get());
      EXPECT_TRUE(gpu.coordinates->download() == cpu.coordinates) << scan.file;
      EXPECT_EQ(gpu.firstPoint.download<int32_t>(), cpu.firstPoint) << scan.file;
      if (reduction == VoxelReduction::MeanFeatures)
        EXPECT_EQ(gpu.meanFeatures.download<float>(), cpu.meanFeatures) << scan.file;
    }
  }
}

TEST(KernelMapGpuErrors, DuplicateCoordinatesNameTheSameRowsAsTheCpu) {
  context();
  auto cloud = randomCloud(5000, 9);
  cloud[4000] = cloud[1234];
  cloud[4500] = cloud[17];
  std::string cpuMessage;
  try {
    requireUniqueCoordinates(cloud);
  } catch (const RuntimeError &error) {
    cpuMessage = error.what();
  }
  ASSERT_NE(cpuMessage.find("at rows 1234 and 4000"), std::string::npos) << cpuMessage;
  try {
    SparseCoordinates::fromHost(cloud);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_EQ(std::string(error.what()), cpuMessage);
  }
}

TEST(KernelMapGpuErrors, DuplicatesAreMergedWhenAsked) {
  context();
  auto cloud = randomCloud(3000, 10);
  cloud.push_back(cloud[5]);
  cloud.push_back(cloud[77]);
  auto device = DeviceBuffer::from(cloud);
  auto merged = deduplicateCoordinates(device.get(), static_cast<int>(cloud.size()));
  auto unique = merged.unique->download();
  auto expected = cloud;
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  EXPECT_TRUE(unique == expected);
  auto rowToUnique = merged.rowToUnique.download<int32_t>();
  for (size_t r = 0; r < cloud.size(); ++r)
    ASSERT_TRUE(unique[rowToUnique[r]] == cloud[r]) << "row " << r;
}

TEST(KernelMapGpuErrors, EmptyInputGivesEmptyMapsWithoutLaunching) {
  context();
  auto empty = SparseCoordinates::fromHost({});
  for (const auto &c : forwardGeometries()) {
    auto map = buildKernelMapGpu(empty, c.geometry);
    EXPECT_EQ(map.outputCount(), 0);
    EXPECT_EQ(transposedKernelMapGpu(map).outputCount(), 0);
    EXPECT_EQ(generativeTransposedKernelMapGpu(empty, c.geometry).outputCount(), 0);
    auto extras = kernelMapExtrasGpu(map, {true, true, true, 2, 128});
    EXPECT_EQ(extras.pairOffsets.back(), 0);
  }
  auto voxels = voxelizeGpu(0, 0, 4, 0.05f, VoxelReduction::MeanFeatures);
  EXPECT_EQ(voxels.coordinates->size(), 0);
  context().synchronize("empty-input maps");
}

TEST(KernelMapGpuErrors, CoordinatesOutOfRangeNameTheRow) {
  context();
  auto cloud = randomCloud(1000, 12);
  cloud[321].y = (1 << 30) + 5;
  try {
    SparseCoordinates::fromHost(cloud);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("coordinate row 321"), std::string::npos) << error.what();
  }
  auto device = DeviceBuffer::from(cloud);
  try {
    SparseCoordinates::fromDevice(device.get(), static_cast<int>(cloud.size()));
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("coordinate row 321"), std::string::npos) << error.what();
  }
  PointCloud points{{1.0f, 2.0f, 3.0f, 0.0f, 1.0f, std::nanf(""), 3.0f, 0.0f}, 4};
  auto devicePoints = DeviceBuffer::from(points.values);
  try {
    voxelizeGpu(devicePoints.get(), 2, 4, 0.05f, VoxelReduction::FirstPoint);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("point row 1"), std::string::npos) << error.what();
  }
}

// 17.5M points (more than 2^24) in clusters at the corners of the [-2^20, 2^20) cube. The
// whole map is built; a sample of rows is checked against a sorted-array reference.
TEST(KernelMapGpu, SeventeenMillionPointsAtTwoToTheTwenty) {
  context();
  constexpr int kPoints = 17'500'000, kCorner = (1 << 20) - 90;
  std::vector<Coordinate> cloud;
  cloud.reserve(kPoints);
  std::mt19937 random(3);
  std::uniform_int_distribution<int> local(-90, 89); // density about 1/8 per cluster
  std::vector<Coordinate> sorted;
  while (static_cast<int>(cloud.size()) < kPoints) {
    // Rejecting duplicates by a sorted set would cost minutes; draw, then de-duplicate once below.
    for (int i = 0; i < kPoints; ++i) {
      int corner = static_cast<int>(random() % 8);
      cloud.push_back({static_cast<int32_t>(random() % 3),
                       (corner & 1 ? kCorner : -kCorner) + local(random),
                       (corner & 2 ? kCorner : -kCorner) + local(random),
                       (corner & 4 ? kCorner : -kCorner) + local(random)});
    }
    sorted = cloud;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    cloud = sorted;
    std::shuffle(cloud.begin(), cloud.end(), random);
    if (static_cast<int>(cloud.size()) > kPoints)
      cloud.resize(kPoints);
  }
  sorted = cloud;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int32_t> rowOfSorted(cloud.size());
  {
    std::vector<int32_t> order(cloud.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = static_cast<int32_t>(i);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return cloud[a] < cloud[b]; });
    for (size_t s = 0; s < order.size(); ++s)
      rowOfSorted[s] = order[s];
  }
  auto coordinates = SparseCoordinates::fromHost(cloud);
  ConvGeometry geometry;
  auto map = buildKernelMapGpu(coordinates, geometry).downloadOutInMap();
  auto offsets = kernelOffsets(geometry);
  long long found = 0;
  for (int sample = 0; sample < 50000; ++sample) {
    size_t j = random() % cloud.size();
    for (size_t k = 0; k < offsets.size(); ++k) {
      Coordinate probe{cloud[j].batch, cloud[j].x + offsets[k][0], cloud[j].y + offsets[k][1],
                       cloud[j].z + offsets[k][2]};
      auto it = std::lower_bound(sorted.begin(), sorted.end(), probe);
      int32_t expected = (it != sorted.end() && *it == probe) ? rowOfSorted[it - sorted.begin()] : -1;
      ASSERT_EQ(map[j * offsets.size() + k], expected) << "row " << j << " offset " << k;
      found += expected >= 0;
    }
  }
  EXPECT_GT(found, 100000); // neighbourhoods are populated, not just the centres
  std::printf("  %d points, coordinates in [-2^20, 2^20): 50000 sampled rows identical to the reference\n", kPoints);
}

TEST(KernelMapCacheGpu, EachMapIsBuiltOnce) {
  KernelMapCache cache;
  auto coordinates = SparseCoordinates::fromHost(randomCloud(5000, 4));
  ConvGeometry subm, down{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}};
  auto first = cache.get(coordinates, subm, MapKind::Forward);
  EXPECT_EQ(cache.get(coordinates, subm, MapKind::Forward), first);
  auto up = cache.get(coordinates, down, MapKind::Transposed); // builds the strided map too
  EXPECT_EQ(cache.builds(), 3u);
  EXPECT_EQ(up->outputs, coordinates);
  EXPECT_EQ(cache.get(coordinates, down, MapKind::Forward)->outputs, up->inputs);
  EXPECT_EQ(cache.builds(), 3u);
  auto other = SparseCoordinates::fromHost(randomCloud(5000, 4)); // equal values, another tensor
  EXPECT_NE(cache.get(other, subm, MapKind::Forward), first);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
}

} // namespace
} // namespace sparsekgen
