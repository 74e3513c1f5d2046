#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/SpecParser.h"

namespace sparsekgen {
namespace {

nlohmann::json validSpec() {
  return nlohmann::json::parse(R"({
    "dataflow": "implicit_gemm", "operation": "forward",
    "dtypes": {"input": "f16", "weight": "f16", "output": "f16", "accumulator": "f32"},
    "tile": {"cta": [128, 64, 32], "warp": [64, 32, 32]},
    "stages": 3, "targets": ["sm_90", "sm_80"], "epilogue": {"ops": []}
  })");
}

// Runs `parse` and returns the SpecError it throws (fails the test if none).
template <typename Parse>
SpecError specErrorOf(Parse parse) {
  try {
    parse();
  } catch (const SpecError &error) {
    return error;
  }
  ADD_FAILURE() << "expected a SpecError";
  return SpecError("", "");
}

SpecError catalogErrorOf(const nlohmann::json &document) {
  return specErrorOf([&] { parseCatalog(document); });
}

TEST(SpecParser, ParsesAValidSpec) {
  KernelSpec spec = parseKernelSpec(validSpec(), "");
  EXPECT_EQ(spec.dataflow, SKG_IMPLICIT_GEMM);
  EXPECT_EQ(spec.cta, (TileShape{128, 64, 32}));
  EXPECT_EQ(spec.warp, (TileShape{64, 32, 32}));
  EXPECT_EQ(spec.stages, 3);
  EXPECT_EQ(spec.targetSms, (std::vector<int>{80, 90})); // sorted
  EXPECT_EQ(spec.threadCount(), 128);
}

TEST(SpecParser, KernelNameEncodesEveryParameter) {
  KernelSpec spec = parseKernelSpec(validSpec(), "");
  EXPECT_EQ(kernelName(spec), "skg_igemm_fwd_f16f16f16f32_t128x64x32_w64x32x32_s3_a8_sm80_sm90");
  KernelSpec other = spec;
  other.channelAlignment = 1;
  EXPECT_NE(kernelName(spec), kernelName(other));
  other = spec;
  other.stages = 4;
  EXPECT_NE(kernelName(spec), kernelName(other));
  other = spec;
  other.targetSms = {90};
  EXPECT_NE(kernelName(spec), kernelName(other));
  other = spec;
  other.epilogue = {EpilogueOp::Relu};
  EXPECT_EQ(kernelName(other), kernelName(spec) + "_ep_relu");
}

TEST(SpecParser, IndexBitsSixtyFourNamesTheTwinWithASuffix) {
  auto document = validSpec();
  document["index_bits"] = 64;
  KernelSpec wide = parseKernelSpec(document, "");
  EXPECT_EQ(wide.indexBits, 64);
  EXPECT_EQ(parseKernelSpec(validSpec(), "").indexBits, 32);
  EXPECT_EQ(kernelName(wide), kernelName(parseKernelSpec(validSpec(), "")) + "_i64");
  EXPECT_EQ(toJson(wide)["index_bits"], 64);
  EXPECT_EQ(parseKernelSpec(toJson(wide), ""), wide);

  document["index_bits"] = 48;
  SpecError error = specErrorOf([&] { parseKernelSpec(document, ""); });
  EXPECT_EQ(error.where(), "/index_bits");
  EXPECT_NE(std::string(error.message()).find("32 or 64, got 48"), std::string::npos) << error.message();
}

TEST(SpecParser, CrossProductsTakeIndexBitsForEveryMember) {
  auto document = nlohmann::json::parse(R"({"products": [{
    "dataflow": "implicit_gemm", "operation": "forward",
    "dtypes": [{"input": "f16", "weight": "f16", "output": "f16", "accumulator": "f32"}],
    "tiles": [{"cta": [128, 64, 32], "warp": [64, 32, 32]}], "stages": [2, 3], "targets": ["sm_80"],
    "index_bits": 64}]})");
  Catalog catalog = parseCatalog(document);
  ASSERT_EQ(catalog.kernels.size(), 2u);
  for (const KernelSpec &spec : catalog.kernels)
    EXPECT_EQ(spec.indexBits, 64);
  document["products"][0]["index_bits"] = true;
  EXPECT_EQ(catalogErrorOf(document).where(), "/products/0/index_bits");
}

TEST(SpecParser, PairWeightsNameTheKernelAndAppearInItsRecordOnlyWhereSet) {
  auto document = validSpec();
  document["dataflow"] = "fetch_on_demand";
  const KernelSpec plain = parseKernelSpec(document, "");
  document["pair_weights"] = true;
  const KernelSpec weighted = parseKernelSpec(document, "");
  EXPECT_TRUE(weighted.pairWeights);
  EXPECT_FALSE(plain.pairWeights);
  EXPECT_EQ(kernelName(weighted), kernelName(plain) + "_pw");
  EXPECT_EQ(toJson(weighted)["pair_weights"], true);
  EXPECT_FALSE(toJson(plain).contains("pair_weights"));
  EXPECT_EQ(parseKernelSpec(toJson(weighted), ""), weighted);
  document["index_bits"] = 64; // the 64-bit suffix stays last
  EXPECT_EQ(kernelName(parseKernelSpec(document, "")), kernelName(plain) + "_pw_i64");

  document["pair_weights"] = 1;
  SpecError error = specErrorOf([&] { parseKernelSpec(document, ""); });
  EXPECT_EQ(error.where(), "/pair_weights");
  EXPECT_NE(std::string(error.message()).find("expected true or false"), std::string::npos) << error.message();
}

TEST(SpecParser, ASingleSpecMayNameItsSchema) {
  auto document = validSpec();
  document["$schema"] = "../schemas/kernel-spec.schema.json";
  EXPECT_EQ(parseCatalog(document).kernels.size(), 1u);
  EXPECT_EQ(parseKernelSpec(document, ""), parseKernelSpec(validSpec(), ""));
}

TEST(SpecParser, SpecRoundTripsThroughJson) {
  KernelSpec spec = parseKernelSpec(validSpec(), "");
  EXPECT_EQ(parseKernelSpec(toJson(spec), ""), spec);
}

TEST(SpecParser, MalformedJsonNamesLineAndColumn) {
  auto error = specErrorOf([] { parseJsonText("{\n  \"kernels\": [\n    {\"dataflow\": }\n  ]\n}", "cat.json"); });
  EXPECT_EQ(error.where(), "cat.json:3:18");
  EXPECT_NE(error.message().find("malformed JSON"), std::string::npos) << error.what();
}

TEST(SpecParser, NumbersPastDoublesRangeAndRepeatedKeysAreRefused) {
  auto overflow = specErrorOf([] { parseJsonText(R"({"stages": 1e400})", "cat.json"); });
  EXPECT_EQ(overflow.where(), "cat.json");
  EXPECT_NE(overflow.message().find("a number is out of range"), std::string::npos) << overflow.what();
  auto twice = specErrorOf([] { parseJsonText(R"({"kernels": [{"stages": 2, "stages": 3}]})", "cat.json"); });
  EXPECT_NE(twice.message().find("key \"stages\" appears twice in one object"), std::string::npos) << twice.what();
}

TEST(SpecParser, WrongTypeNamesThePointerAndTheExpectation) {
  auto document = nlohmann::json{{"kernels", {validSpec(), validSpec(), validSpec(), validSpec()}}};
  for (int i = 0; i < 4; ++i)
    document["kernels"][i]["stages"] = 2 + i;
  document["kernels"][3]["tile"]["cta"][0] = "128";
  auto error = catalogErrorOf(document);
  EXPECT_EQ(error.where(), "/kernels/3/tile/cta/0");
  EXPECT_EQ(error.message(), "expected a positive integer, got string \"128\"");
}

TEST(SpecParser, UnknownFieldIsNamedWithTheAllowedOnes) {
  auto spec = validSpec();
  spec["stagse"] = 3;
  auto error = catalogErrorOf(nlohmann::json{{"kernels", {spec}}});
  EXPECT_EQ(error.where(), "/kernels/0/stagse");
  EXPECT_NE(error.message().find("unknown field 'stagse'"), std::string::npos);
  EXPECT_NE(error.message().find("stages"), std::string::npos);
}

TEST(SpecParser, MissingFieldIsNamed) {
  auto spec = validSpec();
  spec["dtypes"].erase("accumulator");
  auto error = catalogErrorOf(nlohmann::json{{"kernels", {spec}}});
  EXPECT_EQ(error.where(), "/kernels/0/dtypes");
  EXPECT_EQ(error.message(), "missing required field 'accumulator'");
}

TEST(SpecParser, UnknownEnumValueListsTheValidOnes) {
  auto spec = validSpec();
  spec["dataflow"] = "implicit_gem";
  auto error = catalogErrorOf(nlohmann::json::array({spec}));
  EXPECT_EQ(error.where(), "/0/dataflow");
  EXPECT_NE(error.message().find("implicit_gemm_sorted"), std::string::npos);
}

TEST(SpecParser, UnsupportedTargetIsRefused) {
  auto spec = validSpec();
  spec["targets"] = {"sm_80", "sm_70"};
  auto error = catalogErrorOf(nlohmann::json{{"kernels", {spec}}});
  EXPECT_EQ(error.where(), "/kernels/0/targets/1");
  EXPECT_NE(error.message().find("unsupported target \"sm_70\""), std::string::npos);
}

TEST(SpecParser, TileMustHaveThreeDimensions) {
  auto spec = validSpec();
  spec["tile"]["warp"] = {64, 32};
  auto error = catalogErrorOf(nlohmann::json{{"kernels", {spec}}});
  EXPECT_EQ(error.where(), "/kernels/0/tile/warp");
}

TEST(SpecParser, IllegalExplicitKernelNamesRuleAndNumbers) {
  auto spec = validSpec();
  spec["tile"]["warp"] = {48, 32, 32};
  auto error = catalogErrorOf(nlohmann::json{{"kernels", {spec}}});
  EXPECT_EQ(error.where(), "/kernels/0/tile/warp/0");
  EXPECT_NE(error.message().find("[warp-divides-cta] warp tile M = 48 does not divide CTA tile M = 128"),
            std::string::npos)
      << error.what();
}

TEST(SpecParser, DuplicateExplicitKernelIsReported) {
  auto error = catalogErrorOf(nlohmann::json{{"kernels", {validSpec(), validSpec()}}});
  EXPECT_EQ(error.where(), "/kernels/1");
  EXPECT_NE(error.message().find("already listed at /kernels/0"), std::string::npos);
}

TEST(SpecParser, CrossProductExpandsAndDropsIllegalMembers) {
  auto document = nlohmann::json::parse(R"({"products": [{
    "dataflow": "implicit_gemm", "operation": "forward",
    "dtypes": [{"input": "f16", "weight": "f16", "output": "f16", "accumulator": "f32"}],
    "tiles": [{"cta": [128, 64, 32], "warp": [64, 32, 32]}, {"cta": [64, 64, 32], "warp": [48, 32, 32]}],
    "stages": [2, 3, 4], "targets": ["sm_80"]}]})");
  Catalog catalog = parseCatalog(document);
  EXPECT_EQ(catalog.kernels.size(), 3u);
  EXPECT_EQ(catalog.dropped.size(), 3u);
  EXPECT_EQ(catalog.dropped.front().pointer, "/products/0");
}

TEST(SpecParser, CrossProductTypeErrorsPointIntoTheProduct) {
  auto document = nlohmann::json::parse(R"({"products": [{
    "dataflow": "implicit_gemm", "operation": "forward",
    "dtypes": [{"input": "f16", "weight": "f16", "output": "f16", "accumulator": "f32"}],
    "tiles": [{"cta": [128, 64, 32], "warp": [64, 32, 32]}, {"cta": [64, 64, -32], "warp": [32, 32, 32]}],
    "stages": [3], "targets": ["sm_80"]}]})");
  auto error = catalogErrorOf(document);
  EXPECT_EQ(error.where(), "/products/0/tiles/1/cta/2");
}

TEST(SpecParser, CrossProductWithNoLegalMemberIsAnError) {
  auto document = nlohmann::json::parse(R"({"products": [{
    "dataflow": "implicit_gemm", "operation": "forward",
    "dtypes": [{"input": "f16", "weight": "f16", "output": "f16", "accumulator": "f32"}],
    "tiles": [{"cta": [128, 64, 32], "warp": [64, 32, 32]}],
    "stages": [1], "targets": ["sm_80"]}]})");
  auto error = catalogErrorOf(document);
  EXPECT_EQ(error.where(), "/products/0");
  EXPECT_NE(error.message().find("no legal kernel"), std::string::npos);
}

// A few KB of JSON must not expand to millions of kernels: the limit is checked on the product's
// size, before anything is expanded, and counts the kernels named before it.
TEST(SpecParser, CatalogsPastTheKernelLimitAreRefusedBeforeExpansion) {
  auto product = nlohmann::json::parse(R"({
    "dataflow": "implicit_gemm", "operation": "forward",
    "dtypes": [{"input": "f16", "weight": "f16", "output": "f16", "accumulator": "f32"}],
    "tiles": [{"cta": [128, 64, 32], "warp": [64, 32, 32]}], "targets": ["sm_80"]})");
  product["stages"] = nlohmann::json::array();
  for (int stage = 1; stage <= 128; ++stage)
    product["stages"].push_back(stage);
  for (int i = 0; i < 128; ++i) // 128 tiles x 128 stages = 16384: exactly the limit, accepted
    product["tiles"].push_back(product["tiles"][0]);
  product["tiles"].erase(product["tiles"].size() - 1);
  ASSERT_EQ(product["tiles"].size() * product["stages"].size(), kMaxCatalogMembers);
  EXPECT_NO_THROW(parseCatalog({{"products", {product}}}));

  auto tooMany = product;
  tooMany["tiles"].push_back(product["tiles"][0]);
  auto error = catalogErrorOf({{"products", {tooMany}}});
  EXPECT_EQ(error.where(), "/products/0");
  EXPECT_NE(error.message().find("more than 16384 combinations (1 dtypes x 129 tiles x 128 stages"), std::string::npos)
      << error.message();

  auto error2 = catalogErrorOf({{"kernels", {validSpec()}}, {"products", {product}}});
  EXPECT_EQ(error2.where(), "/products/0");
  EXPECT_NE(error2.message().find("on top of the 1 named before it"), std::string::npos) << error2.message();
}

TEST(SpecParser, EmptyCatalogIsAnError) {
  EXPECT_THROW(parseCatalog(nlohmann::json::object()), SpecError);
  EXPECT_THROW(parseCatalog(nlohmann::json::array()), SpecError);
}

TEST(SpecParser, MissingFileIsNamed) {
  auto error = specErrorOf([] { loadCatalogFile("/nonexistent/catalog.json"); });
  EXPECT_EQ(error.where(), "/nonexistent/catalog.json");
}

} // namespace
} // namespace sparsekgen
