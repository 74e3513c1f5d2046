#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {
namespace {

KernelDescription kernel(std::string name, std::string dataflow, int m, int n, int alignment = 8,
                         std::vector<std::string> epilogue = {}, std::string operand = "f16") {
  return {std::move(name), std::move(dataflow), operand, operand, operand == "f32" ? "ffma" : "tensor_core",
          alignment, m, n, 3, std::move(epilogue)};
}

const std::vector<KernelDescription> kKernels = {
    kernel("unsorted_128x64", "implicit_gemm", 128, 64),
    kernel("sorted_128x64", "implicit_gemm_sorted", 128, 64),
    kernel("unsorted_64x32", "implicit_gemm", 64, 32),
    kernel("unsorted_128x128", "implicit_gemm", 128, 128),
    kernel("unsorted_64x32_a1", "implicit_gemm", 64, 32, 1),
    kernel("unsorted_128x64_bnrelu", "implicit_gemm", 128, 64, 8, {"scale_shift", "relu"}),
    kernel("split_64x64", "implicit_gemm_split", 64, 64),
};

ConfigTable tableWith(const LayerKey &key, std::string kernelName, int splits) {
  ConfigTable table;
  table.gpuName = "NVIDIA H200";
  table.gpuSm = 90;
  table.bundleHash = "abc";
  table.date = "2026-11-21";
  table.entries.push_back({key, {std::move(kernelName), splits}, 0.05, 0.06, 0.07, "unsorted_128x64", {"stem.1"}});
  return table;
}

TEST(ConfigTable, KeysBucketTheMap) {
  auto key = layerKey(32, 64, 27, false, "f16", {}, 80000, 400000);
  EXPECT_EQ(key.outputsLog2, 16); // 2^16 = 65536 <= 80000 < 2^17
  EXPECT_EQ(key.neighbours, 5);
  EXPECT_TRUE(key.sameShape(layerKey(32, 64, 27, false, "f16", {}, 1000, 1000)));
  EXPECT_FALSE(key.sameShape(layerKey(32, 64, 27, true, "f16", {}, 80000, 400000)));
}

TEST(ConfigTable, ExactThenNearestThenHeuristic) {
  auto key = layerKey(32, 64, 27, false, "f16", {}, 80000, 400000);
  ConfigTable table = tableWith(key, "split_64x64", 3);
  auto exact = table.dispatch(key, kKernels);
  EXPECT_EQ(exact.source, Dispatch::Source::Exact);
  EXPECT_EQ(exact.choice.kernel, "split_64x64");
  EXPECT_EQ(exact.choice.splits, 3);
  EXPECT_NE(exact.reason.find("stem.1"), std::string::npos) << exact.reason;

  auto nearest = table.dispatch(layerKey(32, 64, 27, false, "f16", {}, 20000, 140000), kKernels);
  EXPECT_EQ(nearest.source, Dispatch::Source::Nearest);
  EXPECT_EQ(nearest.choice.kernel, "split_64x64");
  EXPECT_NE(nearest.reason.find("distance"), std::string::npos) << nearest.reason;

  auto other = table.dispatch(layerKey(64, 64, 27, false, "f16", {}, 80000, 400000), kKernels);
  EXPECT_EQ(other.source, Dispatch::Source::Heuristic);
}

TEST(ConfigTable, EntriesNamingMissingKernelsAreSkipped) {
  auto key = layerKey(32, 64, 27, false, "f16", {}, 80000, 400000);
  ConfigTable table = tableWith(key, "not_in_this_bundle", 1);
  EXPECT_EQ(table.dispatch(key, kKernels).source, Dispatch::Source::Heuristic);
}

TEST(ConfigTable, HeuristicFollowsItsRules) {
  // Large sparse map: sorted; dense or small: unsorted; narrow Cout: N 32; odd channels: alignment 1.
  EXPECT_EQ(heuristicChoice(layerKey(64, 64, 27, false, "f16", {}, 80000, 400000), kKernels).choice.kernel,
            "sorted_128x64");
  EXPECT_EQ(heuristicChoice(layerKey(64, 64, 27, false, "f16", {}, 1000, 20000), kKernels).choice.kernel,
            "unsorted_128x64");
  EXPECT_EQ(heuristicChoice(layerKey(64, 32, 27, false, "f16", {}, 1000, 5000), kKernels).choice.kernel,
            "unsorted_64x32");
  EXPECT_EQ(heuristicChoice(layerKey(3, 32, 27, false, "f16", {}, 1000, 5000), kKernels).choice.kernel,
            "unsorted_64x32_a1");
  EXPECT_EQ(heuristicChoice(layerKey(64, 64, 27, false, "f16", {"scale_shift", "relu"}, 1000, 5000), kKernels)
                .choice.kernel,
            "unsorted_128x64_bnrelu");
  EXPECT_THROW(heuristicChoice(layerKey(64, 64, 27, false, "bf16", {}, 1000, 5000), kKernels), RuntimeError);
}

TEST(ConfigTable, HeuristicTakesWarpgroupMmaFromSixtyFourChannels) {
  auto warpgroup = [](std::string name, std::string dataflow, int m, int n) {
    KernelDescription k = kernel(std::move(name), std::move(dataflow), m, n);
    k.math = "warpgroup_mma";
    return k;
  };
  std::vector<KernelDescription> kernels = kKernels;
  kernels.push_back(warpgroup("wgmma_sorted_128x128", "implicit_gemm_sorted", 128, 128));
  kernels.push_back(warpgroup("wgmma_sorted_128x256", "implicit_gemm_sorted", 128, 256));
  kernels.push_back(warpgroup("wgmma_unsorted_128x64", "implicit_gemm", 128, 64));
  const long long outputs = 80000, pairs = 400000; // 5 of 27 offsets: the sorted dataflow pays
  EXPECT_EQ(heuristicChoice(layerKey(256, 256, 27, false, "f16", {}, outputs, pairs), kernels).choice.kernel,
            "wgmma_sorted_128x256");
  const Dispatch at128 = heuristicChoice(layerKey(128, 128, 27, false, "f16", {}, outputs, pairs), kernels);
  EXPECT_EQ(at128.choice.kernel, "wgmma_sorted_128x128");
  EXPECT_NE(at128.reason.find("warpgroup MMA"), std::string::npos) << at128.reason;
  // 64 channels, dense map: the unsorted warpgroup kernel.
  EXPECT_EQ(heuristicChoice(layerKey(64, 64, 27, false, "f16", {}, 1000, 20000), kernels).choice.kernel,
            "wgmma_unsorted_128x64");
  // Below 64 channels, mma.sync as before.
  EXPECT_EQ(heuristicChoice(layerKey(32, 64, 27, false, "f16", {}, outputs, pairs), kernels).choice.kernel,
            "sorted_128x64");
  // Where no warpgroup kernel has the epilogue, mma.sync, and the reason says so.
  const Dispatch fused =
      heuristicChoice(layerKey(128, 128, 27, false, "f16", {"scale_shift", "relu"}, 1000, 5000), kernels);
  EXPECT_EQ(fused.choice.kernel, "unsorted_128x64_bnrelu");
  EXPECT_NE(fused.reason.find("no warpgroup-MMA kernel of this dataflow fits"), std::string::npos) << fused.reason;
}

TEST(ConfigTable, RoundTripsThroughJson) {
  auto key = layerKey(32, 64, 27, true, "f16", {"scale_shift", "relu"}, 80000, 400000);
  ConfigTable table = tableWith(key, "split_64x64", 2);
  ConfigTable again = ConfigTable::parse(table.toJson().dump(), "memory");
  ASSERT_EQ(again.entries.size(), 1u);
  EXPECT_EQ(again.entries[0].key, key);
  EXPECT_EQ(again.entries[0].choice.splits, 2);
  EXPECT_EQ(again.gpuName, "NVIDIA H200");
}

TEST(ConfigTable, CorruptTablesNameTheProblem) {
  auto message = [](const std::string &text) {
    try {
      ConfigTable::parse(text, "t.json");
    } catch (const RuntimeError &error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("{ not json").find("config table t.json: malformed JSON at byte"), std::string::npos);
  // Nesting past the limit is refused while parsing, even under a key nothing reads.
  const std::string deepText = "{\"ignored\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_NE(message(deepText).find("config table t.json: nested deeper than 64 levels"), std::string::npos)
      << message(deepText).substr(0, 200);
  EXPECT_NE(message("{}").find("/format"), std::string::npos);
  auto table = tableWith(layerKey(32, 64, 27, false, "f16", {}, 1, 1), "k", 1).toJson();
  table["entries"][0]["key"]["in_channels"] = "32";
  EXPECT_NE(message(table.dump()).find("/entries/0/key/in_channels: expected an integer, not \"32\""), std::string::npos)
      << message(table.dump());
  table = tableWith(layerKey(32, 64, 27, false, "f16", {}, 1, 1), "k", 1).toJson();
  table["entries"][0].erase("kernel");
  EXPECT_NE(message(table.dump()).find("/entries/0: missing field 'kernel'"), std::string::npos);
  // An offending value is described, never echoed whole: a long string is cut, a container named.
  table = tableWith(layerKey(32, 64, 27, false, "f16", {}, 1, 1), "k", 1).toJson();
  table["entries"][0]["key"]["in_channels"] = std::string(100000, 'x');
  EXPECT_LT(message(table.dump()).size(), 300u) << message(table.dump()).substr(0, 300);
  // Numbers are read as exactly what they are: no truncation of 2.5, no true as 1, no 2^32 + 32 as 32.
  for (const auto &[value, expected] :
       std::vector<std::pair<nlohmann::json, std::string>>{{2.5, "expected an integer, not 2.5"},
                                                           {true, "expected an integer, not true"},
                                                           {4294967328LL, "4294967328 is out of range"}}) {
    table = tableWith(layerKey(32, 64, 27, false, "f16", {}, 1, 1), "k", 1).toJson();
    table["entries"][0]["key"]["in_channels"] = value;
    EXPECT_NE(message(table.dump()).find("/entries/0/key/in_channels: " + expected), std::string::npos)
        << message(table.dump());
  }
  // A number past double's range (found by fuzz-manifest) is bad input, not an escaping library error.
  EXPECT_NE(message("11e60503").find("config table t.json: a number is out of range: number overflow parsing "
                                     "'11e60503'"),
            std::string::npos)
      << message("11e60503");
  // A key given twice is refused while parsing (JSON leaves its meaning open), wherever it sits.
  EXPECT_NE(message(R"({"format": "a", "entries": [{"kernel": "k", "kernel": "l"}]})")
                .find("config table t.json: key \"kernel\" appears twice in one object"),
            std::string::npos);
  // Misspelled or unknown fields and split counts past the grid's limit: refused by the schema.
  table = tableWith(layerKey(32, 64, 27, false, "f16", {}, 1, 1), "k", 1).toJson();
  table["entries"][0]["runner_up_time"] = 1.0;
  EXPECT_NE(message(table.dump()).find("config table t.json: /entries/0: unknown field 'runner_up_time'"),
            std::string::npos)
      << message(table.dump());
  for (int splits : {-3, 1000000}) {
    table = tableWith(layerKey(32, 64, 27, false, "f16", {}, 1, 1), "k", 1).toJson();
    table["entries"][0]["splits"] = splits;
    EXPECT_NE(message(table.dump()).find("/entries/0/splits"), std::string::npos) << message(table.dump());
  }
  // An optional field of the wrong type names itself (it used to escape as a library exception).
  table = tableWith(layerKey(32, 64, 27, false, "f16", {}, 1, 1), "k", 1).toJson();
  table["entries"][0]["runner_up_ms"] = "fast";
  EXPECT_NE(message(table.dump()).find("/entries/0/runner_up_ms: expected a number, not \"fast\""),
            std::string::npos)
      << message(table.dump());
  EXPECT_NE(message(R"({"format": 7})").find("/format: not a sparsekgen config table"), std::string::npos);
  table = tableWith(layerKey(32, 64, 27, false, "f16", {}, 1, 1), "k", 1).toJson();
  nlohmann::json deep = 1;
  for (int i = 0; i < 10; ++i) // within the nesting limit: described by its kind, not dumped
    deep = nlohmann::json::array({deep});
  table["entries"][0]["key"]["in_channels"] = deep;
  EXPECT_NE(message(table.dump()).find("in_channels: expected an integer, not an array of 1 element"), std::string::npos)
      << message(table.dump());
}

TEST(ConfigTable, KernelDescriptionsRefuseAlignmentsAndTilesDispatchCannotUse) {
  nlohmann::json spec = {{"dataflow", "implicit_gemm"},
                         {"dtypes", {{"input", "f16"}, {"output", "f16"}}},
                         {"channel_alignment", 8},
                         {"tile", {{"cta", {64, 64, 32}}}},
                         {"stages", 3}};
  EXPECT_EQ(describeKernel("k", spec).alignment, 8);
  auto message = [&](nlohmann::json broken) {
    try {
      describeKernel("k", broken, "manifest m.json", "/kernels/4/spec");
    } catch (const RuntimeError &error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  for (int alignment : {0, 3, 256, -8}) {
    auto broken = spec;
    broken["channel_alignment"] = alignment;
    EXPECT_NE(message(broken).find("manifest m.json (kernel k): /kernels/4/spec/channel_alignment: " +
                                   std::to_string(alignment) + " is not a power of two"),
              std::string::npos)
        << message(broken);
  }
  auto broken = spec;
  broken["tile"]["cta"] = {0, 64, 32};
  EXPECT_NE(message(broken).find("/kernels/4/spec/tile/cta/0: expected a positive integer"), std::string::npos);
  broken = spec;
  broken.erase("dtypes");
  EXPECT_NE(message(broken).find("/kernels/4/spec: missing field 'dtypes'"), std::string::npos);
}

TEST(ConfigTable, AnotherGpuOrBundleIsRefusedUnlessAccepted) {
  ConfigTable table = tableWith(layerKey(32, 64, 27, false, "f16", {}, 1, 1), "k", 1);
  EXPECT_NO_THROW(table.requireMatch("NVIDIA H200", 90, "abc", false));
  try {
    table.requireMatch("NVIDIA H100 80GB HBM3", 90, "abc", false);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("tuned on NVIDIA H200 (sm_90), running on NVIDIA H100"),
              std::string::npos);
  }
  EXPECT_THROW(table.requireMatch("NVIDIA H200", 90, "other", false), RuntimeError);
  // A table tuned for one of several linked bundles matches; one tuned for bundles not all linked
  // does not, and the message names the missing one.
  EXPECT_NO_THROW(table.requireMatch("NVIDIA H200", 90, "abc+def", false));
  EXPECT_NO_THROW(table.requireMatch("NVIDIA H200", 90, "def+abc", false));
  table.bundleHash = "abc+def";
  EXPECT_EQ(table.bundleMismatch("def+abc"), "");
  EXPECT_NE(table.bundleMismatch("abc+de"), "") << "a hash is matched whole, not by prefix";
  EXPECT_NO_THROW(table.requireMatch("NVIDIA H200", 90, "abc+def", false));
  try {
    table.requireMatch("NVIDIA H200", 90, "abc", false);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("(def not linked)"), std::string::npos) << error.what();
  }
  table.bundleHash = "abc";
  EXPECT_NO_THROW(table.requireMatch("NVIDIA H200", 90, "other", true));
  ASSERT_EQ(table.warnings.size(), 1u);
  EXPECT_NE(table.warnings[0].find("used anyway"), std::string::npos);
}

} // namespace
} // namespace sparsekgen
