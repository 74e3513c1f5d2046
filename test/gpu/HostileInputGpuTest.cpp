// The network executor fed what a real pipeline can hand it by mistake: no points, one point, every
// point the same, duplicates, coordinates far negative, at the edge of the coordinate range and past
// it, negative batch indices, NaN and Inf features, a batch index missing in the middle, and 20 million
// points. Each must give a defined result (checked against the float64 description where it can be
// computed) or a RuntimeError naming the problem, never a fault, a hang or a silent wrong answer.
#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/NetworkExecutor.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/Reference.h"
#include "TestClouds.h"
#include "TestContext.h"

namespace sparsekgen {
namespace {

using testclouds::context;

// fp16 activations through the network's 20-odd layers (as NetworkGpuTest's bound).
constexpr double kTolerance = 1e-2;

const Network &network() {
  static const Network n = loadNetwork(testclouds::sourceDirectory() + "/bench/networks/sparse_resnet21d.json");
  return n;
}
const NetworkParameters &parameters() {
  static const NetworkParameters p = randomParameters(network(), 3);
  return p;
}
const std::string &outputName() { return network().outputs.front(); }

struct Result {
  int rows = 0;
  std::vector<float> values; // the network's output, decoded
};

Result runOnGpu(const std::vector<Coordinate> &coordinates, const std::vector<float> &features) {
  NetworkExecutor executor(context(), network(), parameters());
  auto deviceCoordinates = DeviceBuffer::from(coordinates);
  auto deviceFeatures = DeviceBuffer::from(encodeElements(features, SKG_F16));
  auto outputs = executor.run(deviceCoordinates.get(), static_cast<int>(coordinates.size()), deviceFeatures.get());
  const DeviceTensor &tensor = outputs.at(outputName());
  std::vector<uint8_t> bytes(static_cast<size_t>(tensor.rows) * tensor.channels * 2);
  if (!bytes.empty())
    checkCuda(cuMemcpyDtoH(bytes.data(), tensor.data, bytes.size()), "cuMemcpyDtoH");
  checkCuda(cuCtxSynchronize(), "cuCtxSynchronize", "(after the hostile-input run)");
  return {tensor.rows, decodeElements(bytes, SKG_F16)};
}

// Runs `coordinates` on the GPU and in float64, and compares.
void expectMatchesReference(const std::vector<Coordinate> &coordinates, const std::string &what) {
  auto features = randomFeatures(network(), coordinates.size(), 17);
  auto reference = referenceNetworkForward(network(), parameters(), coordinates, features).at(outputName());
  Result gpu = runOnGpu(coordinates, features);
  ASSERT_EQ(gpu.values.size(), reference.size()) << what;
  const double error = reference.empty() ? 0.0 : relativeError(gpu.values, reference);
  std::printf("%s: %zu points -> %d output rows, relative error %.2e\n", what.c_str(), coordinates.size(), gpu.rows,
              error);
  EXPECT_LE(error, kTolerance) << what;
}

// The RuntimeError a run throws (empty when it throws none).
std::string errorOf(const std::vector<Coordinate> &coordinates) {
  try {
    runOnGpu(coordinates, randomFeatures(network(), coordinates.size(), 1));
  } catch (const RuntimeError &error) {
    return error.what();
  }
  return "";
}

TEST(HostileInput, NoPointsGiveEmptyOutputs) {
  Result gpu = runOnGpu({}, {});
  EXPECT_EQ(gpu.rows, 0);
  EXPECT_TRUE(gpu.values.empty());
}

TEST(HostileInput, OnePointRunsThroughEveryLevel) { expectMatchesReference({{0, 5, -7, 3}}, "one point"); }

TEST(HostileInput, NegativeCoordinatesMatchTheReference) {
  // Strided levels divide coordinates: negative ones must round down, not toward zero.
  expectMatchesReference(testclouds::randomCloud(3000, 5, {0, 1}, -100000), "centred at -100000");
}

TEST(HostileInput, CoordinatesAtTheEdgeOfTheRangeMatchTheReference) {
  auto low = testclouds::randomCloud(1500, 6, {0}, -kCoordinateLimit + 40);
  auto high = testclouds::randomCloud(1500, 7, {1}, kCoordinateLimit - 40);
  low.insert(low.end(), high.begin(), high.end());
  expectMatchesReference(low, "within 40 of +-2^30");
}

TEST(HostileInput, AMissingBatchInTheMiddleMatchesTheReference) {
  expectMatchesReference(testclouds::randomCloud(3000, 8, {0, 2, 5}), "batches 0, 2 and 5");
}

TEST(HostileInput, CoordinatesPastTheRangeAreRefusedNamingTheRow) {
  auto cloud = testclouds::randomCloud(100, 9);
  cloud[42] = {0, kCoordinateLimit, 0, 0};
  std::string message = errorOf(cloud);
  EXPECT_NE(message.find("42"), std::string::npos) << message;
  cloud[42] = {0, 0, std::numeric_limits<int32_t>::min(), 0};
  message = errorOf(cloud);
  EXPECT_NE(message.find("42"), std::string::npos) << message;
  cloud[42] = {-1, 0, 0, 0};
  message = errorOf(cloud);
  EXPECT_NE(message.find("42"), std::string::npos) << message;
}

TEST(HostileInput, DuplicatesAreRefusedNamingTheRows) {
  auto cloud = testclouds::randomCloud(500, 10);
  cloud[400] = cloud[17];
  std::string message = errorOf(cloud);
  EXPECT_NE(message.find("17"), std::string::npos) << message;
  EXPECT_NE(message.find("400"), std::string::npos) << message;
  std::vector<Coordinate> same(1000, Coordinate{0, 1, 2, 3});
  EXPECT_NE(errorOf(same), "") << "1000 identical points were accepted";
}

TEST(HostileInput, NonFiniteFeaturesPropagateAsInTheReferenceAndNoFurther) {
  // Three clusters: A (batch 0) holds a NaN and an Inf feature; B lies in the same batch far away;
  // C sits where A is, in batch 1. NaN and Inf must reach exactly the outputs they reach in the
  // float64 run (fused and unfused ReLU alike keep NaN), B and C must stay finite and agree.
  auto coordinates = testclouds::randomCloud(1500, 11, {0}, 0);
  auto far = testclouds::randomCloud(1500, 12, {0}, 1'000'000);
  auto otherBatch = testclouds::randomCloud(1500, 13, {1}, 0);
  coordinates.insert(coordinates.end(), far.begin(), far.end());
  coordinates.insert(coordinates.end(), otherBatch.begin(), otherBatch.end());
  auto features = randomFeatures(network(), coordinates.size(), 17);
  features[100 * network().inputChannels] = std::numeric_limits<float>::quiet_NaN();
  features[700 * network().inputChannels + 1] = std::numeric_limits<float>::infinity();
  auto reference = referenceNetworkForward(network(), parameters(), coordinates, features).at(outputName());
  Result gpu = runOnGpu(coordinates, features);
  ASSERT_EQ(gpu.values.size(), reference.size());
  size_t nonFinite = 0, mismatched = 0;
  std::vector<float> ours;
  std::vector<double> theirs;
  for (size_t i = 0; i < reference.size(); ++i) {
    const bool finite = std::isfinite(reference[i]);
    nonFinite += !finite;
    if (finite != std::isfinite(gpu.values[i]) || (!finite && std::isnan(reference[i]) != std::isnan(gpu.values[i])))
      ++mismatched;
    else if (finite) {
      ours.push_back(gpu.values[i]);
      theirs.push_back(reference[i]);
    }
  }
  std::printf("NaN and Inf inputs: %zu of %zu outputs non-finite in float64, %zu differ in kind on the GPU\n",
              nonFinite, reference.size(), mismatched);
  EXPECT_EQ(mismatched, 0u);
  EXPECT_GT(nonFinite, 0u) << "the poison reached no output: the test proves nothing";
  EXPECT_GE(ours.size(), reference.size() / 2) << "non-finite values spread past cluster A";
  EXPECT_LE(relativeError(ours, theirs), kTolerance);
}

TEST(HostileInput, TwentyMillionPointsRun) {
  // Every 4th cell of a 431^3 box (by a hash, so rows are unique and spread), in two batches.
  std::vector<Coordinate> cloud;
  cloud.reserve(20'100'000);
  for (int x = -215; x <= 215; ++x)
    for (int y = -215; y <= 215; ++y)
      for (int z = -215; z <= 215; ++z) {
        uint32_t h = static_cast<uint32_t>(x) * 73856093u ^ static_cast<uint32_t>(y) * 19349663u ^
                     static_cast<uint32_t>(z) * 83492791u;
        if ((h * 2654435761u) >> 30 == 0)
          cloud.push_back({static_cast<int>(h >> 29 & 1), x, y, z});
      }
  ASSERT_GT(cloud.size(), 19'000'000u);
  auto features = std::vector<float>(cloud.size() * network().inputChannels, 0.5f);
  Result gpu = runOnGpu(cloud, features);
  size_t nonFinite = 0;
  for (double v : gpu.values)
    nonFinite += !std::isfinite(v);
  std::printf("%zu points -> %d output rows, %zu non-finite values\n", cloud.size(), gpu.rows, nonFinite);
  EXPECT_GT(gpu.rows, 0);
  EXPECT_EQ(nonFinite, 0u);
}

} // namespace
} // namespace sparsekgen
