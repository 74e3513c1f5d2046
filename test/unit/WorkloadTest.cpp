#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/Workload.h"

using namespace sparsekgen;

namespace {

// Named after the process too: CTest runs each test case as its own process, possibly at once.
std::string writeTemporary(const std::string &name, const std::string &text) {
  auto path = std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path.string();
}

std::string errorOf(const std::string &text) {
  try {
    loadWorkload(writeTemporary("sparsekgen-workload-test.json", text));
  } catch (const RuntimeError &error) {
    return error.what();
  }
  return "";
}

const char *kMinimal = R"({"name": "w", "dtype": "f16", "inputs": [{"coordinates": "c.i32"}],
  "maps": [{"name": "s", "coordinates": "l0", "kernel_size": [3, 3, 3], "stride": [1, 1, 1]},
           {"name": "d", "coordinates": "l0", "kernel_size": [2, 2, 2], "stride": [2, 2, 2], "produces": "l1"},
           {"name": "u", "coordinates": "l1", "kernel_size": [2, 2, 2], "stride": [2, 2, 2], "mirrors": "d"}],
  "layers": [{"name": "a", "map": "s", "in_channels": 16, "out_channels": 16},
             {"name": "b", "map": "s", "in_channels": 16, "out_channels": 16},
             {"name": "c", "map": "d", "in_channels": 16, "out_channels": 32},
             {"name": "e", "map": "u", "in_channels": 32, "out_channels": 16}]})";

} // namespace

TEST(Workload, BundledWorkloadsLoadAndGroupLayers) {
  auto unet = loadWorkload(std::string(SPARSEKGEN_WORKLOAD_DIR) + "/minkunet42_1.0x.json");
  EXPECT_EQ(unet.layers.size(), 49u);
  EXPECT_EQ(unet.maps.size(), 18u);
  EXPECT_EQ(unet.layerGroups().size(), 40u);
  for (const char *name : {"minkunet42_0.5x", "sparse_resnet21d", "centerpoint_nuscenes_backbone"})
    EXPECT_NO_THROW(loadWorkload(std::string(SPARSEKGEN_WORKLOAD_DIR) + "/" + name + ".json")) << name;
}

TEST(Workload, GroupsLayersRunningTheSameProblem) {
  auto w = loadWorkload(writeTemporary("sparsekgen-workload-minimal.json", kMinimal));
  auto groups = w.layerGroups();
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].layers, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(w.findMap("u").transposed());
}

TEST(Workload, BuildsMapsLevelByLevel) {
  auto w = loadWorkload(writeTemporary("sparsekgen-workload-minimal.json", kMinimal));
  auto dir = std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-sparsekgen-workload-data");
  std::filesystem::create_directories(dir / "voxels");
  // (batch, z, y, x) rows: two voxels in one 2x2x2 cell, one in another.
  const int32_t rows[] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4};
  std::ofstream(dir / "voxels" / "c.i32", std::ios::binary).write(reinterpret_cast<const char *>(rows), sizeof(rows));
  auto maps = buildWorkloadMaps(w, w.inputs[0], dir.string());
  EXPECT_EQ(maps.at("s").outputCount(), 3);
  EXPECT_EQ(maps.at("d").outputCount(), 2);
  EXPECT_EQ(maps.at("u").outputCount(), 3);
  EXPECT_EQ(maps.at("u").inputCount, 2);
}

TEST(Workload, ErrorsNameThePointer) {
  std::string text = kMinimal;
  auto replaced = [&](const std::string &from, const std::string &to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  EXPECT_NE(errorOf(replaced(R"("map": "d")", R"("map": "x")")).find("/layers/2/map: no map named 'x'"),
            std::string::npos);
  EXPECT_NE(errorOf(replaced(R"("mirrors": "d")", R"("mirrors": "s")")).find("/maps/2/mirrors"), std::string::npos);
  EXPECT_NE(errorOf(replaced(R"("mirrors": "d")", R"("mirrors": "d", "produces": "l2")"))
                .find("/maps/2/produces: a transposed map (with 'mirrors') produces no level"),
            std::string::npos);
  EXPECT_NE(errorOf(replaced(R"("coordinates": "l1")", R"("coordinates": "l7")")).find("/maps/2/coordinates"),
            std::string::npos);
  EXPECT_NE(errorOf(replaced(R"("in_channels": 32)", R"("in_channels": "32")")).find("/layers/3/in_channels"),
            std::string::npos);
  EXPECT_NE(errorOf(replaced(R"("kernel_size": [2, 2, 2], "stride": [2, 2, 2], "produces")",
                             R"("kernel_size": [2, 2], "stride": [2, 2, 2], "produces")"))
                .find("/maps/1/kernel_size"),
            std::string::npos);
  EXPECT_NE(errorOf("{\"name\": 1").find("malformed JSON"), std::string::npos);
}

TEST(Workload, UnknownFieldsAreRefusedByTheSchema) {
  std::string text = kMinimal;
  text.replace(text.find(R"("in_channels": 32)"), 17, R"("in_channels": 32, "kernal_volume": 27)");
  EXPECT_NE(errorOf(text).find("/layers/3: unknown field 'kernal_volume' (schemas/workload.schema.json)"),
            std::string::npos)
      << errorOf(text);
}

