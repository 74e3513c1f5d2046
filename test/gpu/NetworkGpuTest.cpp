// Whole networks on the GPU against their description run in float64 on the CPU: every bundled
// network on a real KITTI crop in fp16, bf16 and fp32 (activations stored in that type between
// layers), dispatched by the heuristic and, in fp16, by its tuned table (which picks sorted, split
// and tile variants); then in fp16 and bf16 over the application bundles, where on sm_90 the
// Hopper bundle's warpgroup-MMA kernels take the layers of 64 channels and more.
#include <cmath>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/NetworkExecutor.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/Reference.h"
#include "sparsekgen/Workload.h"
#include "TestClouds.h"
#include "TestContext.h"

namespace sparsekgen {
namespace {

using testclouds::context;

// Activations are rounded at every layer through up to 49 layers: fp16 keeps 11 significant bits
// (about 3e-4 relative per rounding), bf16 8 (8 times more), fp32 24 with exact FFMA kernels (a tf32
// kernel, rounding operands to 11 bits, would pass 1e-4). A wrong map, step order or fused op gives
// errors of order 1.
double toleranceOf(const std::string &dtype) { return dtype == "f16" ? 1e-2 : dtype == "bf16" ? 8e-2 : 1e-4; }

struct NetworkCase {
  const char *network;
  const char *table; // tuned in fp16: used for the fp16 case
  const char *dtype;
  bool applicationBundles = false; // dispatch among the default and Hopper bundles' kernels
};

class EveryNetwork : public ::testing::TestWithParam<NetworkCase> {};

TEST_P(EveryNetwork, MatchesItsFloat64DescriptionRunOnARealScan) {
  const auto &param = GetParam();
  Context &gpu = param.applicationBundles ? testclouds::applicationContext() : context();
  // On sm_90 with the Hopper bundle linked, the heuristic must take warpgroup-MMA kernels.
  const bool expectWarpgroupMma = param.applicationBundles && gpu.bundles().size() > 1 && gpu.device().sm == 90;
  if (param.applicationBundles && !expectWarpgroupMma)
    GTEST_SKIP() << (gpu.bundles().size() == 1 ? "this build has no Hopper bundle"
                                               : "the Hopper kernels run on sm_90 only, this GPU is sm_" +
                                                     std::to_string(gpu.device().sm))
                 << "; the default-bundle cases cover the networks";
  Network network = loadNetwork(testclouds::sourceDirectory() + "/bench/networks/" + param.network + ".json");
  network.dtype = param.dtype;
  const uint32_t type = dtypeFromName(network.dtype);
  auto coordinates = voxelize(loadPointFile(testclouds::testDataDirectory() + "/kitti_000008.bin", 4), 0.05f);
  auto features = randomFeatures(network, coordinates.size(), 21);
  auto parameters = randomParameters(network, 7);
  auto reference = referenceNetworkForward(network, parameters, coordinates, features);

  ConfigTable table = ConfigTable::load(testclouds::sourceDirectory() + "/bench/tables/" + param.table);
  std::vector<const ConfigTable *> tables = {nullptr};
  if (network.dtype == "f16")
    tables.push_back(&table);
  for (const ConfigTable *dispatchTable : tables) {
    NetworkExecutor executor(gpu, network, parameters, dispatchTable);
    auto deviceCoordinates = DeviceBuffer::from(coordinates);
    auto deviceFeatures = DeviceBuffer::from(encodeElements(features, type));
    auto outputs = executor.run(deviceCoordinates.get(), static_cast<int>(coordinates.size()), deviceFeatures.get(),
                                {.profile = true});
    for (const auto &[name, expected] : reference) {
      const DeviceTensor &tensor = outputs.at(name);
      ASSERT_EQ(static_cast<size_t>(tensor.rows) * tensor.channels, expected.size()) << name;
      std::vector<uint8_t> bytes(expected.size() * elementBytes(type));
      checkCuda(cuMemcpyDtoH(bytes.data(), tensor.data, bytes.size()), "cuMemcpyDtoH");
      double error = relativeError(decodeElements(bytes, type), expected);
      double rms = 0;
      for (double v : expected)
        rms += v * v;
      rms = std::sqrt(rms / expected.size());
      std::set<std::string> kernels;
      int unfused = 0, warpgroupLayers = 0;
      for (const auto &d : executor.dispatches()) {
        kernels.insert(d.kernel.substr(0, d.kernel.find("_t")));
        warpgroupLayers += d.kernel.find("wgmma") != std::string::npos;
        unfused += d.epilogueUnfused;
        EXPECT_EQ(d.kernel.find("tf32"), std::string::npos) << d.layer << ": " << d.kernel << " (tf32 unasked)";
      }
      std::printf("%s %s (%s%s): output %s [%d x %d], rms %.3f, relative error %.2e, %zu convolutions (%d unfused, "
                  "%d warpgroup MMA), dataflows:",
                  param.network, param.dtype, dispatchTable ? "tuned table" : "heuristic",
                  param.applicationBundles ? ", application bundles" : "", name.c_str(), tensor.rows, tensor.channels,
                  rms, error, executor.dispatches().size(), unfused, warpgroupLayers);
      for (const auto &k : kernels)
        std::printf(" %s", k.c_str());
      std::printf("\n");
      EXPECT_LE(error, toleranceOf(network.dtype)) << param.network << " " << name;
      EXPECT_EQ(unfused, 0) << "the default catalog fuses every layer of the bundled networks";
      EXPECT_GT(rms, 1e-2) << "activations vanished; the comparison would prove nothing";
      if (expectWarpgroupMma && !dispatchTable)
        EXPECT_GT(warpgroupLayers, 0) << "no layer ran on a warpgroup-MMA kernel";
    }
    const auto &stages = executor.stageTimes();
    EXPECT_GT(stages.maps, 0);
    EXPECT_GT(stages.convolutions, 0);
    // Sort inputs are built on a side stream, overlapping the convolutions.
    EXPECT_LE(stages.maps + stages.convolutions + stages.elementwise, stages.total * 1.01);
  }
}

std::vector<NetworkCase> everyNetworkInEveryType() {
  std::vector<NetworkCase> cases;
  for (const char *dtype : {"f16", "bf16", "f32"})
    for (NetworkCase c : {NetworkCase{"minkunet42_1.0x", "minkunet42_1.0x.sm_90.json"},
                          NetworkCase{"minkunet42_0.5x", "minkunet42_0.5x.sm_90.json"},
                          NetworkCase{"sparse_resnet21d", "sparse_resnet21d.sm_90.json"},
                          NetworkCase{"centerpoint_nuscenes_backbone", "centerpoint_nuscenes_backbone.sm_90.json"}}) {
      c.dtype = dtype;
      cases.push_back(c);
      if (std::string(dtype) != "f32") { // the Hopper bundle has fp16 and bf16 kernels
        c.applicationBundles = true;
        cases.push_back(c);
      }
    }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(BundledNetworks, EveryNetwork, ::testing::ValuesIn(everyNetworkInEveryType()),
                         [](const auto &info) {
                           return testclouds::testName(std::string(info.param.network) + "_" + info.param.dtype +
                                                       (info.param.applicationBundles ? "_application_bundles" : ""));
                         });

// A network whose channels and fused epilogues the bundle's kernels do not all take: 3 input
// channels and a 5-channel head (fp16 and fp32 have kernels of channel alignment 1, bf16 none
// narrower than 8), a 5-channel residual sum and a biased 5-channel convolution (no kernel fuses
// those epilogues at that alignment). The executor pads and unfuses;
// results must not move.
std::string narrowChannelsNetwork(const std::string &dtype) {
  return R"({"name": "narrow", "dtype": ")" + dtype + R"(", "input_channels": 3,
    "maps": [
      {"name": "l0.subm333", "coordinates": "l0", "kernel_size": [3, 3, 3], "stride": [1, 1, 1]},
      {"name": "l0.down222", "coordinates": "l0", "kernel_size": [2, 2, 2], "stride": [2, 2, 2], "produces": "l1"},
      {"name": "l1.subm333", "coordinates": "l1", "kernel_size": [3, 3, 3], "stride": [1, 1, 1]}
    ],
    "nodes": [
      {"name": "stem", "op": "conv", "input": "input", "map": "l0.subm333", "out_channels": 16},
      {"name": "stem.bn", "op": "batch_norm", "input": "stem"},
      {"name": "stem.relu", "op": "relu", "input": "stem.bn"},
      {"name": "down", "op": "conv", "input": "stem.relu", "map": "l0.down222", "out_channels": 32},
      {"name": "down.bn", "op": "batch_norm", "input": "down"},
      {"name": "down.relu", "op": "relu", "input": "down.bn"},
      {"name": "skip", "op": "conv", "input": "down.relu", "map": "l1.subm333", "out_channels": 5, "bias": true},
      {"name": "head", "op": "conv", "input": "down.relu", "map": "l1.subm333", "out_channels": 5},
      {"name": "head.bn", "op": "batch_norm", "input": "head"},
      {"name": "sum", "op": "add", "inputs": ["head.bn", "skip"]},
      {"name": "sum.relu", "op": "relu", "input": "sum"}
    ],
    "outputs": ["sum.relu"]})";
}

class NarrowChannels : public ::testing::TestWithParam<const char *> {};

TEST_P(NarrowChannels, PaddedAndUnfusedLayersMatchTheFloat64Description) {
  Context &gpu = context();
  const std::string dtype = GetParam();
  const uint32_t type = dtypeFromName(dtype);
  Network network = parseNetwork(narrowChannelsNetwork(dtype), "narrow (" + dtype + ")");
  auto coordinates = voxelize(loadPointFile(testclouds::testDataDirectory() + "/kitti_000008.bin", 4), 0.1f);
  auto features = randomFeatures(network, coordinates.size(), 3);
  auto parameters = randomParameters(network, 5);
  auto reference = referenceNetworkForward(network, parameters, coordinates, features);
  NetworkExecutor executor(gpu, network, parameters);
  auto deviceCoordinates = DeviceBuffer::from(coordinates);
  auto deviceFeatures = DeviceBuffer::from(encodeElements(features, type));
  auto outputs = executor.run(deviceCoordinates.get(), static_cast<int>(coordinates.size()), deviceFeatures.get());
  const DeviceTensor &tensor = outputs.at("sum.relu");
  const std::vector<double> &expected = reference.at("sum.relu");
  ASSERT_EQ(static_cast<size_t>(tensor.rows) * tensor.channels, expected.size());
  std::vector<uint8_t> bytes(expected.size() * elementBytes(type));
  checkCuda(cuMemcpyDtoH(bytes.data(), tensor.data, bytes.size()), "cuMemcpyDtoH");
  const double error = relativeError(decodeElements(bytes, type), expected);
  bool padded = false, unfused = false;
  for (const auto &d : executor.dispatches()) {
    std::printf("%s %s: %d -> %d launched as %d -> %d%s, %s\n", dtype.c_str(), d.layer.c_str(), d.inChannels,
                d.outChannels, d.launchInChannels, d.launchOutChannels, d.epilogueUnfused ? ", epilogue unfused" : "",
                d.kernel.c_str());
    EXPECT_GE(d.launchInChannels, d.inChannels);
    EXPECT_GE(d.launchOutChannels, d.outChannels);
    padded |= d.launchInChannels != d.inChannels || d.launchOutChannels != d.outChannels;
    unfused |= d.epilogueUnfused;
  }
  std::printf("%s: relative error %.2e over %zu values\n", dtype.c_str(), error, expected.size());
  if (dtype == "bf16")
    EXPECT_TRUE(padded) << "no layer ran padded: the test no longer covers channel padding";
  EXPECT_TRUE(unfused) << "no epilogue ran unfused: the test no longer covers the element-wise fallback";
  // bf16 keeps 8 bits of mantissa (4e-3 per rounding) through 4 layers, fp16 11; fp32 is exact
  // (FFMA kernels, no tf32).
  EXPECT_LE(error, dtype == "bf16" ? 3e-2 : dtype == "f16" ? 1e-2 : 1e-4);
}

INSTANTIATE_TEST_SUITE_P(EveryType, NarrowChannels, ::testing::Values("f16", "bf16", "f32"));

// One executor over several inputs in a row, as an application runs it: maps, dispatches and sort
// inputs of one run must not leak into the next. Two voxelizations of the KITTI crop (different
// sizes and maps), A, B, then A again, each against its own float64 run, over the application
// bundles (warpgroup MMA on sm_90).
TEST(NetworkExecutorRuns, SeveralInputsInARowEachMatchTheirFloat64Run) {
  Context &gpu = testclouds::applicationContext();
  Network network = loadNetwork(testclouds::sourceDirectory() + "/bench/networks/minkunet42_0.5x.json");
  network.dtype = "f16";
  auto parameters = randomParameters(network, 7);
  const auto points = loadPointFile(testclouds::testDataDirectory() + "/kitti_000008.bin", 4);
  struct Input {
    std::vector<Coordinate> coordinates;
    std::vector<float> features;
    std::map<std::string, std::vector<double>> reference;
  };
  std::vector<Input> inputs;
  for (float voxel : {0.05f, 0.08f}) {
    Input in;
    in.coordinates = voxelize(points, voxel);
    in.features = randomFeatures(network, in.coordinates.size(), 21);
    in.reference = referenceNetworkForward(network, parameters, in.coordinates, in.features);
    inputs.push_back(std::move(in));
  }
  ASSERT_NE(inputs[0].coordinates.size(), inputs[1].coordinates.size());
  NetworkExecutor executor(gpu, network, parameters);
  for (size_t which : {0u, 1u, 0u}) {
    const Input &in = inputs[which];
    auto deviceCoordinates = DeviceBuffer::from(in.coordinates);
    auto deviceFeatures = DeviceBuffer::from(encodeElements(in.features, dtypeFromName(network.dtype)));
    auto outputs = executor.run(deviceCoordinates.get(), static_cast<int>(in.coordinates.size()), deviceFeatures.get());
    for (const auto &[name, expected] : in.reference) {
      const DeviceTensor &tensor = outputs.at(name);
      ASSERT_EQ(static_cast<size_t>(tensor.rows) * tensor.channels, expected.size()) << "input " << which;
      std::vector<uint8_t> bytes(expected.size() * 2);
      checkCuda(cuMemcpyDtoH(bytes.data(), tensor.data, bytes.size()), "cuMemcpyDtoH");
      const double error = relativeError(decodeElements(bytes, dtypeFromName(network.dtype)), expected);
      std::printf("input %zu (%zu voxels): %s relative error %.2e\n", which, in.coordinates.size(), name.c_str(),
                  error);
      EXPECT_LE(error, toleranceOf(network.dtype)) << "input " << which << " " << name;
    }
  }
}

// The executor's maps are enqueued with their row counts on the device and read back once at the
// end; they must equal the CPU builders composed the same way (buildMapsCpu): every level's coordinates, every
// out_in_map entry and every pair count, on a real scan at two voxel sizes, a batch-of-three random
// cloud (batch indices with gaps), and three clusters 2^28 apart, whose levels span too many bits
// to sort as packed 64-bit keys (the 128-bit coordinate sort).
TEST(NetworkExecutorMaps, EveryMapOfARunMatchesTheCpuBuilders) {
  Context &gpu = context();
  Network network = loadNetwork(testclouds::sourceDirectory() + "/bench/networks/minkunet42_0.5x.json");
  network.dtype = "f16";
  NetworkExecutor executor(gpu, network, randomParameters(network, 3));
  const auto points = loadPointFile(testclouds::testDataDirectory() + "/kitti_000008.bin", 4);
  const std::vector<std::pair<std::string, std::vector<Coordinate>>> inputs = {
      {"kitti_000008 at 0.05 m", voxelize(points, 0.05f)},
      {"kitti_000008 at 0.3 m", voxelize(points, 0.3f)},
      {"random cloud, batches 0, 2, 5", testclouds::randomCloud(20000, 11, {0, 2, 5})},
      {"three clusters 2^28 apart", [] {
         std::vector<Coordinate> clusters;
         for (int centre : {-(1 << 28), 0, 1 << 28}) {
           auto cluster = testclouds::randomCloud(4000, 17 + centre % 7, {0, 1}, centre);
           clusters.insert(clusters.end(), cluster.begin(), cluster.end());
         }
         return clusters;
       }()}};
  for (const auto &[name, cloud] : inputs) {
    auto deviceCoordinates = DeviceBuffer::from(cloud);
    auto deviceFeatures =
        DeviceBuffer::from(encodeElements(randomFeatures(network, cloud.size(), 5), dtypeFromName(network.dtype)));
    executor.run(deviceCoordinates.get(), static_cast<int>(cloud.size()), deviceFeatures.get());
    const std::map<std::string, KernelMap> reference = buildMapsCpu(network.maps, cloud);
    std::map<std::string, std::vector<Coordinate>> levels = {{"l0", cloud}};
    for (const auto &m : network.maps) {
      const KernelMap &cpu = reference.at(m.name);
      if (!m.produces.empty())
        levels[m.produces] = cpu.outputs;
      const DeviceKernelMap &built = executor.maps().at(m.name);
      const std::string what = name + ", map " + m.name;
      ASSERT_EQ(built.inputCount(), cpu.inputCount) << what;
      ASSERT_EQ(built.volume, cpu.volume) << what;
      EXPECT_TRUE(built.outputs->download() == cpu.outputs) << what << ": output coordinates differ";
      EXPECT_TRUE(built.downloadOutInMap() == cpu.outInMap) << what << ": out_in_map differs";
      EXPECT_EQ(executor.pairCounts().at(m.name), cpu.pairCount()) << what;
    }
    for (const auto &[level, coordinates] : levels)
      EXPECT_TRUE(executor.levels().at(level)->download() == coordinates) << name << ", level " << level;
    std::printf("%s (%zu voxels): %zu maps and %zu levels identical to the CPU builders\n", name.c_str(),
                cloud.size(), network.maps.size(), levels.size());
  }
}

TEST(NetworkExecutorErrors, MissingParametersAreNamed) {
  Context &gpu = context();
  Network network = loadNetwork(testclouds::sourceDirectory() + "/bench/networks/sparse_resnet21d.json");
  auto parameters = randomParameters(network, 1);
  parameters.erase("stage1.res0.conv2.bn.shift");
  try {
    NetworkExecutor executor(gpu, network, parameters);
    FAIL() << "no error";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("parameter 'stage1.res0.conv2.bn.shift' is missing"), std::string::npos)
        << error.what();
  }
}

TEST(NetworkExecutorTiming, StepsCanBeTimedOnKeptTensors) {
  Context &gpu = context();
  Network network = loadNetwork(testclouds::sourceDirectory() + "/bench/networks/sparse_resnet21d.json");
  NetworkExecutor executor(gpu, network, randomParameters(network, 1));
  auto coordinates = testclouds::randomCloud(5000, 3, {0});
  auto deviceCoordinates = DeviceBuffer::from(coordinates);
  auto deviceFeatures = DeviceBuffer::from(encodeElements(randomFeatures(network, coordinates.size(), 2), SKG_F16));
  executor.run(deviceCoordinates.get(), static_cast<int>(coordinates.size()), deviceFeatures.get());
  EXPECT_THROW(executor.timeStep(3, 1, 3), RuntimeError); // intermediates were freed
  executor.run(deviceCoordinates.get(), static_cast<int>(coordinates.size()), deviceFeatures.get(),
               {.keepIntermediates = true});
  for (size_t step = 0; step < executor.plan().size(); ++step)
    EXPECT_GT(executor.timeStep(step, 1, 3), 0.0) << executor.plan()[step].name;
}

} // namespace
} // namespace sparsekgen
