#include <random>
#include <string>

#include <gtest/gtest.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/Network.h"
#include "sparsekgen/Reference.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/BundleAbi.h"

using namespace sparsekgen;

namespace {

const std::string kHeader = R"("name": "n", "dtype": "f16", "input_channels": 4, "inputs": [{"coordinates": "c.i32"}],
  "maps": [{"name": "s", "coordinates": "l0", "kernel_size": [3, 3, 3], "stride": [1, 1, 1]},
           {"name": "d", "coordinates": "l0", "kernel_size": [2, 2, 2], "stride": [2, 2, 2], "produces": "l1"},
           {"name": "u", "coordinates": "l1", "kernel_size": [2, 2, 2], "stride": [2, 2, 2], "mirrors": "d"}],)";

Network parse(const std::string &nodesAndOutputs) {
  return parseNetwork("{" + kHeader + nodesAndOutputs + "}", "test.json");
}

std::string errorOf(const std::string &nodesAndOutputs) {
  try {
    parse(nodesAndOutputs);
  } catch (const RuntimeError &error) {
    return error.what();
  }
  return "";
}

// A small U-Net: conv-bn-relu, down, up, concatenation with the skip, a residual block.
const std::string kUnet = R"("nodes": [
  {"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 8},
  {"name": "a.bn", "op": "batch_norm", "input": "a"},
  {"name": "a.relu", "op": "relu", "input": "a.bn"},
  {"name": "down", "op": "conv", "input": "a.relu", "map": "d", "out_channels": 16},
  {"name": "down.relu", "op": "relu", "input": "down"},
  {"name": "up", "op": "conv", "input": "down.relu", "map": "u", "out_channels": 8, "bias": true},
  {"name": "cat", "op": "concat", "inputs": ["up", "a.relu"]},
  {"name": "b", "op": "conv", "input": "cat", "map": "s", "out_channels": 16},
  {"name": "b.bn", "op": "batch_norm", "input": "b"},
  {"name": "b.add", "op": "add", "inputs": ["b.bn", "down.relu2"]},
  {"name": "b.relu", "op": "relu", "input": "b.add"}],
  "outputs": ["b.relu"])";

} // namespace

TEST(Network, ShapesFollowMapsAndConcatenation) {
  auto n = parse(R"("nodes": [
    {"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 8},
    {"name": "down", "op": "conv", "input": "a", "map": "d", "out_channels": 16},
    {"name": "up", "op": "conv", "input": "down", "map": "u", "out_channels": 8},
    {"name": "cat", "op": "concat", "inputs": ["up", "a", "input"]}], "outputs": ["cat"])");
  EXPECT_EQ(n.tensors.at("down").level, "l1");
  EXPECT_EQ(n.tensors.at("up").level, "l0");
  EXPECT_EQ(n.tensors.at("cat").channels, 8 + 8 + 4);
}

TEST(Network, ErrorsNameThePointerAndTheProblem) {
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "pool", "input": "input"}], "outputs": ["a"])")
                .find("/nodes/0/op: 'pool' is not one of"),
            std::string::npos);
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "relu", "input": "b"}], "outputs": ["a"])")
                .find("/nodes/0/input: tensor 'b' is not the input or an earlier node"),
            std::string::npos);
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "conv", "input": "input", "map": "u", "out_channels": 8}],
                       "outputs": ["a"])")
                .find("/nodes/0/map: map 'u' reads level 'l1' but tensor 'input' is on level 'l0'"),
            std::string::npos);
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 8},
                                 {"name": "b", "op": "add", "inputs": ["a", "input"]}], "outputs": ["b"])")
                .find("/nodes/1/inputs/1: tensor 'input' has 4 channels, tensor 'a' has 8"),
            std::string::npos);
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "conv", "input": "input", "map": "d", "out_channels": 8},
                                 {"name": "b", "op": "concat", "inputs": ["a", "input"]}], "outputs": ["b"])")
                .find("/nodes/1/inputs/1: tensor 'input' is on level 'l0', tensor 'a' on 'l1'"),
            std::string::npos);
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "relu", "input": "input"},
                                 {"name": "a", "op": "relu", "input": "input"}], "outputs": ["a"])")
                .find("/nodes/1/name: tensor 'a' is already defined"),
            std::string::npos);
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "relu", "input": "input"}], "outputs": ["z"])")
                .find("/outputs/0: 'z' is not a node"),
            std::string::npos);
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "add", "inputs": ["input"]}], "outputs": ["a"])")
                .find("/nodes/0/inputs: add takes exactly two tensors"),
            std::string::npos);
  // 10^5 levels of nesting (which overflowed the stack) are refused while parsing, naming the file.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "relu", "input": "input", "note": )" + deep +
                    R"(}], "outputs": ["a"])")
                .find("network test.json: nested deeper than 64 levels"),
            std::string::npos);
}

// Fields no reader takes are refused by the shipped schema (a misspelled optional field would
// otherwise be ignored silently), naming the field and where it is.
TEST(Network, UnknownFieldsAreRefusedByTheSchema) {
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 8,
                                  "baias": true}], "outputs": ["a"])")
                .find("network test.json: /nodes/0: unknown field 'baias' (schemas/network.schema.json)"),
            std::string::npos)
      << errorOf(R"("nodes": [{"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 8,
                               "baias": true}], "outputs": ["a"])");
  // A field of another op: out_channels belongs to conv, not relu.
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "relu", "input": "input", "out_channels": 8}], "outputs": ["a"])")
                .find("/nodes/0: unknown field 'out_channels'"),
            std::string::npos);
  EXPECT_NE(errorOf(R"("nodes": [{"name": "a", "op": "relu", "input": "input"}], "outputs": ["a"], "comment": 1)")
                .find("network test.json: /: unknown field 'comment'"),
            std::string::npos);
}

TEST(Network, FusesBatchNormResidualAndReluIntoTheProducingStep) {
  auto n = parse(R"("nodes": [
    {"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 8},
    {"name": "a.bn", "op": "batch_norm", "input": "a"},
    {"name": "a.relu", "op": "relu", "input": "a.bn"},
    {"name": "s1", "op": "conv", "input": "a.relu", "map": "s", "out_channels": 8},
    {"name": "s1.bn", "op": "batch_norm", "input": "s1"},
    {"name": "b", "op": "conv", "input": "a.relu", "map": "s", "out_channels": 8},
    {"name": "b.bn", "op": "batch_norm", "input": "b"},
    {"name": "b.add", "op": "add", "inputs": ["b.bn", "s1.bn"]},
    {"name": "b.relu", "op": "relu", "input": "b.add"}], "outputs": ["b.relu"])");
  auto plan = planNetwork(n);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].epilogue, (std::vector<std::string>{"scale_shift", "relu"}));
  EXPECT_EQ(plan[0].output, "a.relu");
  EXPECT_EQ(plan[0].scaleShiftOf, "a.bn");
  // s1's add partner (b) is written after s1 starts, so s1 stops at its batch norm.
  EXPECT_EQ(plan[1].epilogue, (std::vector<std::string>{"scale_shift"}));
  EXPECT_EQ(plan[2].epilogue, (std::vector<std::string>{"scale_shift", "residual_add", "relu"}));
  EXPECT_EQ(plan[2].residual, "s1.bn");
  EXPECT_EQ(plan[2].output, "b.relu");
}

TEST(Network, KeepsTensorsThatAreReadTwiceOrAreOutputs) {
  auto n = parse(R"("nodes": [
    {"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 8},
    {"name": "a.relu", "op": "relu", "input": "a"},
    {"name": "a.bn", "op": "batch_norm", "input": "a"},
    {"name": "c", "op": "conv", "input": "a.bn", "map": "s", "out_channels": 8},
    {"name": "c.bn", "op": "batch_norm", "input": "c"},
    {"name": "c.relu", "op": "relu", "input": "c.bn"},
    {"name": "sum", "op": "add", "inputs": ["a.relu", "c.relu"]}], "outputs": ["c.bn", "sum"])");
  auto plan = planNetwork(n);
  ASSERT_EQ(plan.size(), 6u);
  EXPECT_TRUE(plan[0].epilogue.empty()); // "a" has two readers
  EXPECT_EQ(plan[1].kind, PlanStep::Kind::Elementwise);
  EXPECT_EQ(plan[3].output, "c.bn");     // an output stops the fusion
  EXPECT_EQ(plan[5].kind, PlanStep::Kind::Elementwise);
  EXPECT_EQ(plan[5].epilogue, (std::vector<std::string>{"residual_add"}));
  EXPECT_EQ(plan[5].residual, "c.relu");
}

TEST(Network, BundledNetworksFuseIntoTheirTuningWorkloads) {
  for (const char *name : {"minkunet42_1.0x", "minkunet42_0.5x", "sparse_resnet21d", "centerpoint_nuscenes_backbone"}) {
    auto network = loadNetwork(std::string(SPARSEKGEN_NETWORK_DIR) + "/" + name + ".json");
    auto fused = network.workload();
    auto tuned = loadWorkload(std::string(SPARSEKGEN_WORKLOAD_DIR) + "/" + name + ".json");
    ASSERT_EQ(fused.layers.size(), tuned.layers.size()) << name;
    for (size_t i = 0; i < fused.layers.size(); ++i) {
      const auto &a = fused.layers[i], &b = tuned.layers[i];
      EXPECT_EQ(a.name, b.name) << name;
      EXPECT_EQ(a.map, b.map) << name << " " << a.name;
      EXPECT_EQ(a.inChannels, b.inChannels) << name << " " << a.name;
      EXPECT_EQ(a.outChannels, b.outChannels) << name << " " << a.name;
      EXPECT_EQ(a.epilogue, b.epilogue) << name << " " << a.name;
    }
  }
  auto unet = planNetwork(loadNetwork(std::string(SPARSEKGEN_NETWORK_DIR) + "/minkunet42_1.0x.json"));
  EXPECT_EQ(unet.size(), 49u + 4u); // every conv with its ops fused, plus the four concatenations
}

TEST(Network, FloatSixtyFourRunMatchesTheReferenceConvolutionAndOps) {
  auto n = parse(R"("nodes": [
    {"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 8, "bias": true},
    {"name": "a.bn", "op": "batch_norm", "input": "a"},
    {"name": "a.relu", "op": "relu", "input": "a.bn"},
    {"name": "cat", "op": "concat", "inputs": ["a.relu", "input"]}], "outputs": ["cat"])");
  std::vector<Coordinate> coordinates;
  std::mt19937 random(3);
  for (int i = 0; i < 200; ++i)
    coordinates.push_back({0, static_cast<int>(random() % 12), static_cast<int>(random() % 12), i % 3});
  std::sort(coordinates.begin(), coordinates.end());
  coordinates.erase(std::unique(coordinates.begin(), coordinates.end()), coordinates.end());
  std::vector<float> features(coordinates.size() * 4);
  for (auto &f : features)
    f = static_cast<float>(random() % 1000) / 500.0f - 1.0f;
  auto parameters = randomParameters(n, 5);
  auto out = referenceNetworkForward(n, parameters, coordinates, features).at("cat");
  auto conv = referenceConvForward(features, parameters.at("a.weight"), buildKernelMapCpu(coordinates, {}), 4, 8);
  ASSERT_EQ(out.size(), coordinates.size() * 12);
  double largest = 0;
  for (size_t row = 0; row < coordinates.size(); ++row) {
    for (int c = 0; c < 8; ++c) {
      double v = (conv[row * 8 + c] + parameters.at("a.bias")[c]) * parameters.at("a.bn.scale")[c] +
                 parameters.at("a.bn.shift")[c];
      EXPECT_DOUBLE_EQ(out[row * 12 + c], std::max(v, 0.0));
      largest = std::max(largest, std::abs(v));
    }
    for (int c = 0; c < 4; ++c)
      EXPECT_EQ(out[row * 12 + 8 + c], features[row * 4 + c]);
  }
  EXPECT_GT(largest, 0.1); // the weights are not degenerate
}

TEST(Network, RandomParametersCoverEveryNodeAndAreRepresentable) {
  auto n = parse(kUnet.substr(0, kUnet.find("{\"name\": \"b.add\"")) + R"({"name": "end", "op": "relu", "input": "b.bn"}],
      "outputs": ["end"])");
  auto p = randomParameters(n, 1);
  EXPECT_EQ(p.at("a.weight").size(), 27u * 4 * 8);
  EXPECT_EQ(p.at("up.bias").size(), 8u);
  EXPECT_EQ(p.at("b.weight").size(), 27u * 16 * 16);
  EXPECT_EQ(p.at("b.bn.scale").size(), 16u);
  for (float w : p.at("b.weight"))
    EXPECT_EQ(w, roundToElement(w, SKG_F16));
}
