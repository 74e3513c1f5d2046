// Builds every kernel of the default catalog as MLIR and checks the IR verifies and has the
// structure of its template; parses ptxas reports; checks the schemas list what the parser accepts.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "sparsekgen/generator/Lowering.h"
#include "sparsekgen/generator/SpecParser.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {
namespace {

nlohmann::json readJson(const std::string &path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return nlohmann::json::parse(text.str());
}

class GeneratorTest : public ::testing::Test {
protected:
  GeneratorTest() {
    registerGeneratorDialects(registry);
    context = std::make_unique<mlir::MLIRContext>(registry);
    context->loadAllAvailableDialects();
  }
  mlir::DialectRegistry registry;
  std::unique_ptr<mlir::MLIRContext> context;
};

TEST_F(GeneratorTest, EveryDefaultCatalogKernelBuildsAndVerifies) {
  Catalog catalog = loadCatalogFile(SPARSEKGEN_DEFAULT_CATALOG);
  ASSERT_FALSE(catalog.kernels.empty());
  for (const auto &spec : catalog.kernels) {
    auto module = buildKernelModule(*context, spec);
    ASSERT_TRUE(mlir::succeeded(mlir::verify(*module))) << kernelName(spec);
    int copies = 0, mmas = 0;
    std::vector<mlir::gpu::GPUFuncOp> functions;
    module->walk([&](mlir::Operation *op) {
      copies += mlir::isa<mlir::nvgpu::DeviceAsyncCopyOp>(op);
      mmas += mlir::isa<mlir::nvgpu::MmaSyncOp, mlir::NVVM::MmaOp>(op); // bf16 uses nvvm.mma.sync
      if (auto func = mlir::dyn_cast<mlir::gpu::GPUFuncOp>(op)) {
        functions.push_back(func);
        EXPECT_EQ(func.getName().str().rfind(kernelName(spec), 0), 0u);
        EXPECT_TRUE(func.isKernel());
      }
    });
    const size_t expected = 1 + spec.dataflowInfo().companions.size(); // the main kernel + its companions
    ASSERT_EQ(functions.size(), expected) << kernelName(spec);
    // The launch record lists the module's functions in order, each with its MLIR signature.
    auto launch = launchAbi(spec);
    ASSERT_EQ(launch.functions.size(), functions.size()) << kernelName(spec);
    EXPECT_EQ(launch.functions.front().role, SKG_FUNCTION_MAIN);
    for (size_t f = 0; f < functions.size(); ++f) {
      const auto &recorded = launch.functions[f];
      EXPECT_EQ(recorded.name, functions[f].getName().str());
      auto arguments = functions[f].getArgumentTypes();
      ASSERT_EQ(arguments.size(), recorded.parameters.size()) << recorded.name;
      for (size_t i = 0; i < arguments.size(); ++i) {
        mlir::Type type = arguments[i];
        if (auto memref = mlir::dyn_cast<mlir::MemRefType>(type)) {
          mlir::Type element = memref.getElementType();
          skg_parameter_type expectedType = element.isF16()    ? SKG_PARAMETER_F16_BUFFER
                                            : element.isBF16() ? SKG_PARAMETER_BF16_BUFFER
                                            : element.isF32()  ? SKG_PARAMETER_F32_BUFFER
                                                               : SKG_PARAMETER_I32_BUFFER;
          EXPECT_EQ(recorded.parameters[i].type, expectedType) << recorded.name << " " << recorded.parameters[i].name;
          EXPECT_NE(recorded.parameters[i].role, SKG_ROLE_SIZE) << recorded.name << " " << recorded.parameters[i].name;
        } else {
          EXPECT_TRUE(type.isInteger(32)) << recorded.name;
          EXPECT_EQ(recorded.parameters[i].type, SKG_PARAMETER_I32) << recorded.name;
          EXPECT_EQ(recorded.parameters[i].role, SKG_ROLE_SIZE) << recorded.name << " " << recorded.parameters[i].name;
        }
      }
    }
    // Aligned kernels copy with cp.async; single-element kernels load and store.
    if (spec.channelAlignment >= 2)
      EXPECT_GT(copies, 0) << kernelName(spec);
    // One mma per (m16, n8) tile of the warp tile per 16 of K (per 8 for tf32); none for ffma.
    int mmaK = spec.math == MathMode::Tf32 ? 8 : 16;
    int expectedMmas = spec.math == MathMode::Ffma ? 0 : (spec.warp.m / 16) * (spec.warp.n / 8) * (spec.cta.k / mmaK);
    EXPECT_EQ(mmas, expectedMmas) << kernelName(spec);
    EXPECT_EQ(launch.main().threadsPerBlock, spec.threadCount());
    EXPECT_GE(launch.main().parameters.size(), 8u);
  }
}

TEST_F(GeneratorTest, LoweringProducesPtxForBothTargets) {
  Catalog catalog = loadCatalogFile(SPARSEKGEN_DEFAULT_CATALOG);
  const KernelSpec &spec = catalog.kernels.front();
  auto module = buildKernelModule(*context, spec);
  for (int sm : {80, 90}) {
    std::string ptx = lowerToPtx(*module, sm);
    EXPECT_NE(ptx.find(".target sm_" + std::to_string(sm)), std::string::npos);
    EXPECT_NE(ptx.find(".entry " + kernelName(spec)), std::string::npos);
  }
}

TEST(PtxasReport, ParsesEachEntryFunction) {
  auto reports = parsePtxasReport(
      "ptxas info    : Compiling entry function 'k_reduce' for 'sm_90'\n"
      "    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
      "ptxas info    : Used 32 registers, used 0 barriers\n"
      "ptxas info    : Compiling entry function 'k' for 'sm_90'\n"
      "ptxas info    : Function properties for k\n"
      "    16 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads\n"
      "ptxas info    : Used 168 registers, used 1 barriers, 1 bytes smem, 400 bytes cmem[0]\n");
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports.at("k_reduce").registers, 32);
  const PtxasReport &report = reports.at("k");
  EXPECT_EQ(report.registers, 168);
  EXPECT_EQ(report.sharedBytes, 1);
  EXPECT_EQ(report.stackFrameBytes, 16);
  EXPECT_EQ(report.spillStoreBytes, 8);
  EXPECT_EQ(report.spillLoadBytes, 12);
}

TEST(Schemas, KernelSpecSchemaListsExactlyTheParsersEnumerations) {
  auto schema = readJson(SPARSEKGEN_SCHEMA_DIR "/kernel-spec.schema.json");
  EXPECT_EQ(schema.at("$schema"), "https://json-schema.org/draft/2020-12/schema");
  auto names = [](const std::vector<std::string_view> &list) {
    return std::vector<std::string>(list.begin(), list.end());
  };
  const auto &defs = schema.at("$defs");
  EXPECT_EQ(defs.at("dataflow").at("enum").get<std::vector<std::string>>(), names(dataflowNames()));
  EXPECT_EQ(defs.at("operation").at("enum").get<std::vector<std::string>>(), names(operationNames()));
  EXPECT_EQ(defs.at("dtype").at("enum").get<std::vector<std::string>>(), names(dataTypeNames()));
  EXPECT_EQ(defs.at("epilogueOp").at("enum").get<std::vector<std::string>>(), names(epilogueOpNames()));
  auto required = schema.at("required").get<std::vector<std::string>>();
  EXPECT_EQ(required, (std::vector<std::string>{"dataflow", "operation", "dtypes", "tile", "stages", "targets"}));
}

TEST(Schemas, DefaultCatalogUsesTheCatalogSchema) {
  auto catalog = readJson(SPARSEKGEN_DEFAULT_CATALOG);
  EXPECT_EQ(catalog.at("$schema"), "../../schemas/kernel-catalog.schema.json");
  auto schema = readJson(SPARSEKGEN_SCHEMA_DIR "/kernel-catalog.schema.json");
  EXPECT_EQ(schema.at("$schema"), "https://json-schema.org/draft/2020-12/schema");
}

// The build generated the default bundle with ptxas; every kernel must have assembled for both
// targets without spilling.
TEST(DefaultBundle, EveryKernelAssembledForSm80AndSm90WithoutSpills) {
  auto manifest = readJson(SPARSEKGEN_DEFAULT_BUNDLE_DIR "/manifest.json");
  bool anyCubin = false;
  for (const auto &kernel : manifest.at("kernels"))
    for (const auto &image : kernel.at("images"))
      anyCubin |= image.at("format") == "cubin";
  if (!anyCubin && !findPtxas())
    GTEST_SKIP() << "ptxas not found on this machine: the bundle holds PTX only";
  Catalog catalog = loadCatalogFile(SPARSEKGEN_DEFAULT_CATALOG);
  ASSERT_EQ(manifest.at("kernels").size(), catalog.kernels.size());
  for (const auto &kernel : manifest.at("kernels")) {
    std::set<int> cubinSms;
    for (const auto &image : kernel.at("images")) {
      if (image.at("format") != "cubin")
        continue;
      cubinSms.insert(image.at("sm").get<int>());
      EXPECT_EQ(image.at("spill_store_bytes").get<int>(), 0) << kernel.at("name");
      EXPECT_EQ(image.at("spill_load_bytes").get<int>(), 0) << kernel.at("name");
      EXPECT_EQ(image.value("companion_spill_bytes", 0), 0) << kernel.at("name");
      EXPECT_GT(image.at("registers").get<int>(), 0) << kernel.at("name");
    }
    EXPECT_EQ(cubinSms, (std::set<int>{80, 90})) << kernel.at("name");
  }
}

} // namespace
} // namespace sparsekgen
