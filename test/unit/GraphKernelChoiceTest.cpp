// Which kernel of a bundle runs each operation of a graph layer (GraphKernelChoice.h): pair weights
// where the operation scales pairs, fetch-on-demand first, exact fp32 before tf32 and tf32 only when
// asked, the widest alignment dividing the channels, and a message naming the request when nothing fits.
#include <gtest/gtest.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/GraphKernelChoice.h"

namespace sparsekgen {
namespace {

KernelDescription kernel(const std::string &name, const std::string &dataflow, const std::string &operation,
                         const std::string &type, int alignment, bool pairWeights, int tileN = 64,
                         std::vector<std::string> epilogue = {}, const std::string &math = "tensor_core",
                         int tileM = 64) {
  KernelDescription d;
  d.name = name;
  d.dataflow = dataflow;
  d.operation = operation;
  d.operand = type;
  d.output = operation == "weight_grad" ? "f32" : type;
  d.math = math;
  d.alignment = alignment;
  d.tileM = tileM;
  d.tileN = tileN;
  d.stages = 3;
  d.epilogue = std::move(epilogue);
  d.pairWeights = pairWeights;
  return d;
}

const std::vector<KernelDescription> &bundle() {
  static const std::vector<KernelDescription> kernels = {
      kernel("ggs", "gather_gemm_scatter", "forward", "f16", 8, true),
      kernel("fod_unweighted", "fetch_on_demand", "forward", "f16", 8, false),
      kernel("fod_n64", "fetch_on_demand", "forward", "f16", 8, true, 64),
      kernel("fod_n32", "fetch_on_demand", "forward", "f16", 8, true, 32),
      kernel("fod_m128", "fetch_on_demand", "forward", "f16", 8, true, 64, {}, "tensor_core", 128),
      kernel("fod_a1", "fetch_on_demand", "forward", "f16", 1, true, 32),
      kernel("fod_bias_relu", "fetch_on_demand", "forward", "f16", 8, true, 64, {"bias", "relu"}),
      kernel("fod_tf32", "fetch_on_demand", "forward", "f32", 4, true, 64, {}, "tf32"),
      kernel("fod_ffma", "fetch_on_demand", "forward", "f32", 4, true, 32, {}, "ffma"),
      kernel("fod_dgrad", "fetch_on_demand", "input_grad", "f16", 8, true, 32),
      kernel("wgrad", "pair_split_k", "weight_grad", "f16", 8, false),
      kernel("igemm", "implicit_gemm", "forward", "f16", 8, false),
  };
  return kernels;
}

std::string chosen(GraphKernelRequest request) { return chooseGraphKernel(bundle(), request).name; }

TEST(GraphKernelChoice, PrefersWeightedFetchOnDemandWithTheTileNearest128By64) {
  EXPECT_EQ(chosen({"forward", "f16", 64, 64, {}, "", false}), "fod_m128");
  EXPECT_EQ(chosen({"forward", "f16", 64, 16, {}, "", false}), "fod_m128");
  EXPECT_EQ(chosen({"forward", "f16", 64, 64, {}, "gather_gemm_scatter", false}), "ggs");
  EXPECT_EQ(chosen({"forward", "f16", 64, 64, {"bias", "relu"}, "", false}), "fod_bias_relu");
}

TEST(GraphKernelChoice, TakesTheWidestAlignmentDividingTheChannels) {
  EXPECT_EQ(chosen({"forward", "f16", 64, 11, {}, "", false}), "fod_a1");
}

TEST(GraphKernelChoice, Fp32IsExactUnlessTf32IsAllowed) {
  EXPECT_EQ(chosen({"forward", "f32", 64, 64, {}, "", false}), "fod_ffma");
  // Allowed, tf32 still comes after the exact kernel; preferred, it comes first.
  EXPECT_EQ(chosen({"forward", "f32", 64, 64, {}, "", true}), "fod_ffma");
  GraphKernelRequest preferred{"forward", "f32", 64, 64, {}, "", false};
  preferred.preferTf32 = true;
  EXPECT_EQ(chosen(preferred), "fod_tf32");
}

TEST(GraphKernelChoice, GradientsTakeTheirOwnOperations) {
  EXPECT_EQ(chosen({"input_grad", "f16", 64, 64, {}, "", false}), "fod_dgrad");
  EXPECT_EQ(chosen({"weight_grad", "f16", 64, 64, {}, "", false}), "wgrad");
}

TEST(GraphKernelChoice, NoFittingKernelIsNamed) {
  try {
    chooseGraphKernel(bundle(), {"forward", "bf16", 64, 64, {"bias"}, "", false});
    FAIL() << "a bf16 layer found a kernel";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("graph layer's forward (bf16, Cin 64, Cout 64, epilogue [bias])"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(chooseGraphKernel(bundle(), {"forward", "f16", 0, 64, {}, "", false}), RuntimeError);
}

} // namespace
} // namespace sparsekgen
