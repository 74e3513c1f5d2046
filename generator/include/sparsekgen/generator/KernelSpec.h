// The kernel spec: what one generated kernel is. Everything the generator needs is here, and the
// kernel's name is a function of it (see kernelName), so two specs with one name are one kernel.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sparsekgen {

enum class Dataflow { ImplicitGemm, ImplicitGemmSorted, ImplicitGemmSplit, GatherGemmScatter, FetchOnDemand };
enum class ConvOperation { Forward, InputGrad, WeightGrad };
enum class DataType { F16, BF16, F32 };
enum class EpilogueOp { Bias, ScaleShift, Relu, ResidualAdd };
// How products are computed: tensor cores on 16-bit operands (mma.sync m16n8k16), tensor cores on
// fp32 operands rounded to tf32 (m16n8k8), or exact fp32 fused multiply-adds.
enum class MathMode { TensorCore, Tf32, Ffma };

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
  Dataflow dataflow = Dataflow::ImplicitGemm;
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
  bool operator==(const KernelSpec &) const = default;

  int warpCount() const { return (cta.m / warp.m) * (cta.n / warp.n); }
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
