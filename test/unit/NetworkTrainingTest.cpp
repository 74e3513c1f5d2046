// The float64 training reference of a whole network against finite differences, and the training
// parameters: names and shapes, initialisation, batch-norm folding, safetensors files.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <unistd.h>

#include <gtest/gtest.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/Network.h"
#include "sparsekgen/NetworkTrainingReference.h"
#include "sparsekgen/Safetensors.h"
#include "sparsekgen/TrainingParameters.h"

using namespace sparsekgen;

namespace {

// Every op the trainer differentiates: conv with and without bias, batch norm, ReLU, a strided conv
// down and its transposed conv up, a concatenation with the skip, a residual add, a classifier.
const std::string kSmallUnet = R"({"name": "unet", "dtype": "f32", "input_channels": 3,
  "inputs": [{"coordinates": "c.i32"}],
  "maps": [{"name": "s", "coordinates": "l0", "kernel_size": [3, 3, 3], "stride": [1, 1, 1]},
           {"name": "d", "coordinates": "l0", "kernel_size": [2, 2, 2], "stride": [2, 2, 2], "produces": "l1"},
           {"name": "u", "coordinates": "l1", "kernel_size": [2, 2, 2], "stride": [2, 2, 2], "mirrors": "d"},
           {"name": "p", "coordinates": "l0", "kernel_size": [1, 1, 1], "stride": [1, 1, 1]}],
  "nodes": [
    {"name": "a", "op": "conv", "input": "input", "map": "s", "out_channels": 4},
    {"name": "a.bn", "op": "batch_norm", "input": "a"},
    {"name": "a.relu", "op": "relu", "input": "a.bn"},
    {"name": "down", "op": "conv", "input": "a.relu", "map": "d", "out_channels": 6},
    {"name": "down.bn", "op": "batch_norm", "input": "down"},
    {"name": "down.relu", "op": "relu", "input": "down.bn"},
    {"name": "up", "op": "conv", "input": "down.relu", "map": "u", "out_channels": 4, "bias": true},
    {"name": "cat", "op": "concat", "inputs": ["up", "a.relu"]},
    {"name": "b", "op": "conv", "input": "cat", "map": "s", "out_channels": 4},
    {"name": "b.bn", "op": "batch_norm", "input": "b"},
    {"name": "b.add", "op": "add", "inputs": ["b.bn", "a.relu"]},
    {"name": "b.relu", "op": "relu", "input": "b.add"},
    {"name": "head", "op": "conv", "input": "b.relu", "map": "p", "out_channels": 5, "bias": true}],
  "outputs": ["head"]})";

std::vector<Coordinate> smallCloud(int points, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> axis(-3, 3);
  std::set<Coordinate> seen;
  std::vector<Coordinate> cloud;
  while (static_cast<int>(cloud.size()) < points) {
    Coordinate c{0, axis(random), axis(random), axis(random)};
    if (seen.insert(c).second)
      cloud.push_back(c);
  }
  return cloud;
}

struct SmallProblem {
  Network network = parseNetwork(kSmallUnet, "unet.json");
  std::vector<Coordinate> coordinates = smallCloud(60, 3);
  std::vector<float> features;
  std::vector<int32_t> labels;
  NetworkParameters parameters = initialTrainingParameters(network, 5);
  SmallProblem() {
    std::mt19937 random(11);
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    for (size_t i = 0; i < coordinates.size() * 3; ++i)
      features.push_back(unit(random));
    for (size_t i = 0; i < coordinates.size(); ++i)
      labels.push_back(i % 7 == 6 ? -1 : static_cast<int32_t>(random() % 5)); // some rows ignored
    // Non-trivial batch-norm parameters, so their gradients and the normalisation's are exercised.
    for (auto &[name, values] : parameters)
      if (name.find(".bn.") != std::string::npos && !name.ends_with("running_mean") && !name.ends_with("running_var"))
        for (auto &v : values)
          v += 0.3f * unit(random);
  }
  double loss(const NetworkParameters &p) const {
    return referenceNetworkTrainingStep(network, p, coordinates, features, labels, {.withGradients = false}).loss;
  }
};

} // namespace

TEST(NetworkTrainingReference, GradientsMatchCentralFiniteDifferences) {
  SmallProblem problem;
  auto reference = referenceNetworkTrainingStep(problem.network, problem.parameters, problem.coordinates,
                                                problem.features, problem.labels);
  ASSERT_TRUE(std::isfinite(reference.loss));
  EXPECT_GT(reference.loss, 0.5); // about log(5) from random weights
  std::mt19937 random(19);
  int checked = 0;
  for (const auto &shape : trainingParameterShapes(problem.network)) {
    if (!shape.learned)
      continue;
    const auto &gradient = reference.gradients.at(shape.name);
    ASSERT_EQ(static_cast<int64_t>(gradient.size()), shape.elements()) << shape.name;
    double largest = 0;
    for (double g : gradient)
      largest = std::max(largest, std::abs(g));
    EXPECT_GT(largest, 0.0) << shape.name << ": no gradient reached it";
    for (int probe = 0; probe < 4; ++probe) {
      const size_t i = random() % gradient.size();
      // The loss is computed in float64 from float parameters: the step actually taken is the
      // difference of the two rounded values, so only the O(h^2) truncation error remains.
      NetworkParameters plus = problem.parameters, minus = problem.parameters;
      const float h = 1e-4f;
      plus[shape.name][i] += h;
      minus[shape.name][i] -= h;
      const double step = static_cast<double>(plus[shape.name][i]) - minus[shape.name][i];
      const double numeric = (problem.loss(plus) - problem.loss(minus)) / step;
      EXPECT_NEAR(gradient[i], numeric, 1e-4 * largest + 1e-6) << shape.name << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GE(checked, 40);
}

TEST(NetworkTrainingReference, TakesReluMasksFromAnotherRunAndKeepsTensorGradients) {
  SmallProblem problem;
  auto own = referenceNetworkTrainingStep(problem.network, problem.parameters, problem.coordinates, problem.features,
                                          problem.labels, {.keepTensorGradients = true});
  // The last ReLU closed everywhere: nothing flows back past it, so the gradient reaching its
  // input is zero, while the head's own gradients are untouched.
  std::map<std::string, std::vector<float>> closed;
  closed["b.relu"].assign(own.tensorGradients.at("b.relu").size(), 0.0f);
  auto masked = referenceNetworkTrainingStep(problem.network, problem.parameters, problem.coordinates, problem.features,
                                             problem.labels, {.keepTensorGradients = true, .reluOutputs = &closed});
  EXPECT_EQ(masked.tensorGradients.at("b.relu"), own.tensorGradients.at("b.relu"));
  EXPECT_EQ(masked.gradients.at("head.weight"), own.gradients.at("head.weight"));
  for (double g : masked.tensorGradients.at("b.add"))
    EXPECT_EQ(g, 0.0);
  double reached = 0;
  for (double g : own.tensorGradients.at("b.add"))
    reached = std::max(reached, std::abs(g));
  EXPECT_GT(reached, 0.0);
  // Masks of the wrong size are refused, naming the node.
  closed["b.relu"].pop_back();
  try {
    referenceNetworkTrainingStep(problem.network, problem.parameters, problem.coordinates, problem.features,
                                 problem.labels, {.reluOutputs = &closed});
    FAIL() << "no error";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("b.relu"), std::string::npos) << error.what();
  }
}

TEST(NetworkTrainingReference, RefusesLabelsOfTheWrongLength) {
  SmallProblem problem;
  problem.labels.pop_back();
  EXPECT_THROW(referenceNetworkTrainingStep(problem.network, problem.parameters, problem.coordinates, problem.features,
                                            problem.labels),
               RuntimeError);
}

TEST(TrainingParameters, NamesShapesAndInitialisationFollowTorchSparse) {
  Network network = parseNetwork(kSmallUnet, "unet.json");
  auto shapes = trainingParameterShapes(network);
  std::map<std::string, std::vector<int64_t>> byName;
  for (const auto &s : shapes)
    byName[s.name] = s.shape;
  EXPECT_EQ(byName.at("a.weight"), (std::vector<int64_t>{27, 3, 4}));
  EXPECT_EQ(byName.at("down.weight"), (std::vector<int64_t>{8, 4, 6}));
  EXPECT_EQ(byName.at("up.bias"), (std::vector<int64_t>{4}));
  EXPECT_EQ(byName.at("a.bn.running_var"), (std::vector<int64_t>{4}));
  EXPECT_FALSE(byName.count("a.bias"));
  auto p = initialTrainingParameters(network, 1);
  checkTrainingParameters(network, p);
  const float bound = 1.0f / std::sqrt(3.0f * 27.0f);
  float largest = 0;
  for (float w : p.at("a.weight"))
    largest = std::max(largest, std::abs(w));
  EXPECT_LE(largest, bound);
  EXPECT_GT(largest, 0.8f * bound);
  // The transposed convolution's fan-in is its output channels times the volume.
  for (float w : p.at("up.weight"))
    EXPECT_LE(std::abs(w), 1.0f / std::sqrt(4.0f * 8.0f));
  EXPECT_EQ(p.at("a.bn.weight"), std::vector<float>(4, 1.0f));
  EXPECT_EQ(p.at("a.bn.running_var"), std::vector<float>(4, 1.0f));
  EXPECT_EQ(initialTrainingParameters(network, 1), p);
  EXPECT_NE(initialTrainingParameters(network, 2).at("a.weight"), p.at("a.weight"));
}

TEST(TrainingParameters, ChecksNameTheMissingExtraAndMisSized) {
  Network network = parseNetwork(kSmallUnet, "unet.json");
  auto errorOf = [&](const NetworkParameters &p) -> std::string {
    try {
      checkTrainingParameters(network, p);
    } catch (const RuntimeError &error) {
      return error.what();
    }
    return "";
  };
  auto p = initialTrainingParameters(network, 1);
  auto missing = p;
  missing.erase("b.bn.bias");
  EXPECT_NE(errorOf(missing).find("'b.bn.bias' is missing"), std::string::npos) << errorOf(missing);
  auto extra = p;
  extra["b.bias"] = {1, 2, 3, 4};
  EXPECT_NE(errorOf(extra).find("'b.bias' is not a training parameter"), std::string::npos) << errorOf(extra);
  auto sized = p;
  sized["down.weight"].pop_back();
  EXPECT_NE(errorOf(sized).find("'down.weight' holds 191 values, expected 192 (8 x 4 x 6)"), std::string::npos)
      << errorOf(sized);
}

TEST(TrainingParameters, FoldingBatchNormUsesTheRunningStatistics) {
  Network network = parseNetwork(kSmallUnet, "unet.json");
  auto p = initialTrainingParameters(network, 1);
  p["a.bn.weight"] = {2, 1, 1, 1};
  p["a.bn.bias"] = {0.5f, 0, 0, 0};
  p["a.bn.running_mean"] = {1, 0, 0, 0};
  p["a.bn.running_var"] = {3, 1, 1, 1};
  auto folded = foldBatchNorm(network, p, 1.0);
  EXPECT_FLOAT_EQ(folded.at("a.bn.scale")[0], 1.0f);  // 2 / sqrt(3 + 1)
  EXPECT_FLOAT_EQ(folded.at("a.bn.shift")[0], -0.5f); // 0.5 - 1 * 1
  EXPECT_EQ(folded.at("a.weight"), p.at("a.weight"));
  EXPECT_EQ(folded.at("up.bias"), p.at("up.bias"));
  EXPECT_FALSE(folded.count("a.bn.running_mean"));
  // The executor's parameters are exactly these.
  auto executorNames = randomParameters(network, 1);
  ASSERT_EQ(folded.size(), executorNames.size());
  for (const auto &[name, values] : executorNames)
    EXPECT_EQ(folded.at(name).size(), values.size()) << name;
}

TEST(Safetensors, RoundTripsAndRefusesMalformedFiles) {
  Network network = parseNetwork(kSmallUnet, "unet.json");
  auto p = initialTrainingParameters(network, 4);
  const auto dir = std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-sparsekgen-safetensors-test");
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "p.safetensors").string();
  saveSafetensors(path, p, trainingParameterShapes(network));
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  EXPECT_EQ(loadSafetensors(path), p);

  auto errorOf = [&](const std::string &bytes) -> std::string {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      loadSafetensors(path);
    } catch (const RuntimeError &error) {
      return error.what();
    }
    return "";
  };
  auto file = [](const std::string &header, const std::string &data) {
    uint64_t length = header.size();
    return std::string(reinterpret_cast<const char *>(&length), 8) + header + data;
  };
  EXPECT_NE(errorOf("abc").find("not a safetensors file"), std::string::npos);
  EXPECT_NE(errorOf(file("{\"w\": 1}", "")).find("tensor 'w': needs dtype"), std::string::npos);
  EXPECT_NE(errorOf(file(R"({"w": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", std::string(8, '\0')))
                .find("dtype \"I64\" is not one of"),
            std::string::npos);
  EXPECT_NE(errorOf(file(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", std::string(8, '\0')))
                .find("do not hold 4 elements"),
            std::string::npos);
  std::string tooLong = file("{}", "");
  tooLong[0] = 100;
  EXPECT_NE(errorOf(tooLong).find("past the end"), std::string::npos);
  // F16 data decodes to floats.
  const uint16_t halves[2] = {0x3c00, 0xc000}; // 1, -2
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      << file(R"({"h": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})",
              std::string(reinterpret_cast<const char *>(halves), 4));
  EXPECT_EQ(loadSafetensors(path).at("h"), (std::vector<float>{1.0f, -2.0f}));
  std::filesystem::remove_all(dir);
}
