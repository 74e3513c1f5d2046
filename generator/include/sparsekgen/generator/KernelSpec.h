// The kernel spec: what one generated kernel is. Everything the generator needs is here, and the
// kernel's name is a function of it (see kernelName), so two specs with one name are one kernel.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/KernelEnums.h"

namespace sparsekgen {

// The dataflow is the C enumeration skg_dataflow (Dataflow, DataflowTable.h); the others are typed
// views of their C enumerations (KernelEnums.h), with the same values, so specs and bundle records
// agree without conversion tables.
enum class ConvOperation : uint32_t { Forward = SKG_FORWARD, InputGrad = SKG_INPUT_GRAD, WeightGrad = SKG_WEIGHT_GRAD };
enum class DataType : uint32_t { F16 = SKG_F16, BF16 = SKG_BF16, F32 = SKG_F32 };
enum class EpilogueOp : uint32_t {
  Bias = SKG_EPILOGUE_BIAS,
  ScaleShift = SKG_EPILOGUE_SCALE_SHIFT,
  Relu = SKG_EPILOGUE_RELU,
  ResidualAdd = SKG_EPILOGUE_RESIDUAL_ADD
};
// How products are computed: tensor cores on 16-bit operands (mma.sync m16n8k16), tensor cores on
// fp32 operands rounded to tf32 (m16n8k8), exact fp32 fused multiply-adds, or Hopper's warpgroup
// MMA on 16-bit operands (wgmma.mma_async m64nNk16 reading both operands from shared memory;
// sm_90a only: such cubins run on compute capability 9.0 and nothing else), with the weight tiles
// copied by cp.async or (WarpgroupMmaTma) by TMA from a tensor map, completing on mbarriers.
enum class MathMode : uint32_t {
  TensorCore = SKG_MATH_TENSOR_CORE,
  Tf32 = SKG_MATH_TF32,
  Ffma = SKG_MATH_FFMA,
  WarpgroupMma = SKG_MATH_WARPGROUP_MMA,
  WarpgroupMmaTma = SKG_MATH_WARPGROUP_MMA_TMA
};

struct DataTypes {
  DataType input = DataType::F16;
  DataType weight = DataType::F16;
  DataType output = DataType::F16;
  DataType accumulator = DataType::F32;
  bool operator==(const DataTypes &) const = default;
};

// A GEMM tile: M rows (output points), N columns (output channels), K reduction depth.
struct TileShape {
  int m = 0, n = 0, k = 0;
  bool operator==(const TileShape &) const = default;
};

struct KernelSpec {
  Dataflow dataflow = SKG_IMPLICIT_GEMM;
  ConvOperation operation = ConvOperation::Forward;
  DataTypes dtypes;
  TileShape cta;
  TileShape warp;
  int stages = 0;
  // Elements per global copy: Cin and Cout must be multiples of it. 8 fp16 = 16-byte cp.async;
  // 4 and 2 use 8- and 4-byte cp.async; 1 takes any channel count with element loads.
  int channelAlignment = 8;
  // TensorCore for f16/bf16 operands; f32 operands must name Tf32 or Ffma (never chosen silently).
  MathMode math = MathMode::TensorCore;
  std::vector<int> targetSms;          // e.g. {80, 90}, ascending, no duplicates
  std::vector<EpilogueOp> epilogue;    // applied in order in the store
  // Width of the kernel's address arithmetic. 32 bits (the default) takes a third fewer registers
  // but reaches only tensors of up to 2^31 - 1 elements; 64-bit kernels serve larger layers, and
  // the runtime picks them only for those (docs/spec-reference.md).
  int indexBits = 32;
  // Pair-list dataflows only (fetch-on-demand, gather-GEMM-scatter; forward and input gradient):
  // each pair's product is multiplied by an f32 weight of that pair (`pair_weights`) before it is
  // added to its output row. Relational graph convolution uses it for its per-edge normalisation
  // (1 / |N_r(i)|, or the symmetric 1 / sqrt(|N_r(i)| |N_r(j)|)), which no row-wise epilogue can
  // express (docs/graphs.md).
  bool pairWeights = false;
  bool operator==(const KernelSpec &) const = default;

  const DataflowInfo &dataflowInfo() const { return sparsekgen::dataflowInfo(dataflow); }
  int warpCount() const { return (cta.m / warp.m) * (cta.n / warp.n); }
  bool warpgroupMma() const { return math == MathMode::WarpgroupMma || math == MathMode::WarpgroupMmaTma; }
  bool tmaWeights() const { return math == MathMode::WarpgroupMmaTma; }
  // Warpgroup-MMA kernels are built for the architecture-specific sm_90a ("a" features).
  bool archSpecific() const { return warpgroupMma(); }
  int threadCount() const { return warpCount() * 32; }
};

// Canonical spellings used in JSON, kernel names and messages.
std::string_view toString(Dataflow);
std::string_view toString(ConvOperation);
std::string_view toString(DataType);
std::string_view toString(EpilogueOp);
std::string_view toString(MathMode);
std::string smName(int sm); // 90 -> "sm_90"

// The accepted spellings of each enumeration, in declaration order (the JSON Schema lists the same).
const std::vector<std::string_view> &dataflowNames();
const std::vector<std::string_view> &operationNames();
const std::vector<std::string_view> &dataTypeNames();
const std::vector<std::string_view> &epilogueOpNames();
const std::vector<std::string_view> &mathModeNames();

// Bytes of one element of `type`.
int elementBytes(DataType type);

// Derived from every field of the spec; a valid C identifier, stable across releases.
std::string kernelName(const KernelSpec &spec);

nlohmann::json toJson(const KernelSpec &spec);

} // namespace sparsekgen
