#include "sparsekgen/generator/Legality.h"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "sparsekgen/generator/MmaShapes.h"
#include "sparsekgen/generator/SharedRing.h"
#include "sparsekgen/generator/TargetInfo.h"

namespace sparsekgen {

namespace {
constexpr int kMinStages = 2, kMaxStages = 8;
// Accumulators live in registers (255 per thread at most); past this many fp32 values per thread
// the kernel spills to local memory.
constexpr int kMaxAccumulatorsPerThread = 128;
constexpr int kMaxTileExtent = 1024;

// The types the templates implement: f16 or bf16 operands on tensor cores (mma m16n8k16), or f32
// operands with tf32 tensor cores (m16n8k8) or fp32 FMAs; fp32 accumulation; output in the
// operand type or f32.
bool typesAvailable(const DataTypes &t) {
  bool operands = (t.input == DataType::F16 || t.input == DataType::BF16 || t.input == DataType::F32) &&
                  t.weight == t.input;
  return operands && t.accumulator == DataType::F32 && (t.output == t.input || t.output == DataType::F32);
}

// "implicit_gemm: forward, input_grad; ...": what the dataflow table says each dataflow serves.
std::string servedOperations() {
  std::string text;
  for (const DataflowInfo &info : dataflowTable()) {
    std::string operations;
    for (skg_operation operation : info.operations)
      operations += fmt::format("{}{}", operations.empty() ? "" : ", ", toString(static_cast<ConvOperation>(operation)));
    text += fmt::format("{}{}: {}", text.empty() ? "" : "; ", info.spelling(), operations);
  }
  return text;
}
} // namespace

int sharedMemoryBytes(const KernelSpec &spec) { return sharedRingLayout(spec).totalBytes(); }

std::vector<LegalityViolation> checkLegality(const KernelSpec &spec) {
  std::vector<LegalityViolation> violations;
  auto add = [&](std::string rule, std::string field, std::string message) {
    violations.push_back({std::move(rule), std::move(field), std::move(message)});
  };

  const bool served = spec.dataflowInfo().serves(static_cast<skg_operation>(spec.operation));
  if (!served || !typesAvailable(spec.dtypes)) {
    std::string field = !served ? "/operation" : "/dtypes";
    add("template-available", field,
        fmt::format("no template implements {} {} with input/weight/output/accumulator {}/{}/{}/{} yet; available: "
                    "the operations of the dataflow table ({}), with f16, bf16 or f32 input and weight, output "
                    "of the same type or f32, f32 accumulator",
                    toString(spec.dataflow), toString(spec.operation), toString(spec.dtypes.input),
                    toString(spec.dtypes.weight), toString(spec.dtypes.output), toString(spec.dtypes.accumulator),
                    servedOperations()));
  }
  // Batch norm, ReLU and residual backward need values the store does not have (saved
  // activations, batch statistics): they run as the runtime's element-wise backward kernels.
  if (spec.operation != ConvOperation::Forward && !spec.epilogue.empty())
    add("gradient-epilogue", "/epilogue",
        fmt::format("{} kernels fuse no epilogue (the element-wise backward ops run on their own); remove the ops",
                    toString(spec.operation)));
  // Pair weights scale each pair's product where a pair-list kernel adds it to its output row; the
  // other dataflows have no per-pair step to scale, and a weight gradient's pairs run along K.
  if (spec.pairWeights && (!spec.dataflowInfo().pairTiled() || spec.operation == ConvOperation::WeightGrad))
    add("pair-weights-dataflow", "/pair_weights",
        fmt::format("pair weights apply to the pair-list dataflows' forward and input_grad kernels "
                    "(fetch_on_demand, gather_gemm_scatter), not to {} {}",
                    toString(spec.dataflow), toString(spec.operation)));
  // Weight gradients update fp32 master weights, and the split-K partials are fp32 already.
  if (spec.operation == ConvOperation::WeightGrad && spec.dtypes.output != DataType::F32)
    add("weight-grad-output", "/dtypes/output",
        fmt::format("weight_grad writes an f32 gradient (for fp32 master weights), not {}",
                    toString(spec.dtypes.output)));
  bool fp32 = spec.dtypes.input == DataType::F32;
  if (fp32 && spec.math == MathMode::TensorCore)
    add("math-for-fp32", "/math",
        "f32 operands need \"math\": \"tf32\" (tensor cores, 10-bit mantissa) or \"ffma\" (exact fp32); "
        "neither is chosen silently");
  if (!fp32 && spec.math != MathMode::TensorCore)
    add("math-for-fp32", "/math",
        fmt::format("\"math\": \"{}\" applies to f32 operands only; {} operands use tensor cores",
                    toString(spec.math), toString(spec.dtypes.input)));
  if (spec.channelAlignment * elementBytes(spec.dtypes.input) > 16)
    add("copy-width", "/channel_alignment",
        fmt::format("{} {} elements are {} bytes; copies move at most 16 bytes (alignment <= {})",
                    spec.channelAlignment, toString(spec.dtypes.input),
                    spec.channelAlignment * elementBytes(spec.dtypes.input), 16 / elementBytes(spec.dtypes.input)));
  // Extents past this (the parser takes up to 2^20) overflow the thread, register and shared-memory
  // arithmetic below (a K of 10^6 passed them and then hung or crashed the generator); real tiles
  // are at most 256.
  for (const auto &[tile, extents, name] : {std::tuple{"/tile/cta", spec.cta, "CTA"}, {"/tile/warp", spec.warp, "warp"}})
    for (int axis = 0; axis < 3; ++axis) {
      const int extent = axis == 0 ? extents.m : axis == 1 ? extents.n : extents.k;
      if (extent > kMaxTileExtent)
        add("tile-extent", fmt::format("{}/{}", tile, axis),
            fmt::format("{} tile {} = {} is past the largest tile extent, {}", name, "MNK"[axis], extent,
                        kMaxTileExtent));
    }
  if (std::any_of(violations.begin(), violations.end(), [](const auto &v) { return v.rule == "tile-extent"; }))
    return violations;
  if (spec.cta.m % spec.warp.m != 0)
    add("warp-divides-cta", "/tile/warp/0",
        fmt::format("warp tile M = {} does not divide CTA tile M = {}", spec.warp.m, spec.cta.m));
  if (spec.cta.n % spec.warp.n != 0)
    add("warp-divides-cta", "/tile/warp/1",
        fmt::format("warp tile N = {} does not divide CTA tile N = {}", spec.warp.n, spec.cta.n));
  if (spec.warp.k != spec.cta.k)
    add("warp-k-equals-cta-k", "/tile/warp/2",
        fmt::format("warp tile K = {} must equal CTA tile K = {} (warps do not split K inside a CTA)", spec.warp.k,
                    spec.cta.k));
  if (spec.warp.m % kMmaM != 0)
    add("warp-m-multiple-of-mma", "/tile/warp/0",
        fmt::format("warp tile M = {} is not a multiple of the MMA M = {}", spec.warp.m, kMmaM));
  if (spec.warp.n % kWarpNGranule != 0)
    add("warp-n-multiple-of-16", "/tile/warp/1",
        fmt::format("warp tile N = {} is not a multiple of {} (B fragments load 16 columns per ldmatrix.x4)",
                    spec.warp.n, kWarpNGranule));
  if (spec.cta.k % kMmaK != 0)
    add("k-multiple-of-mma-k", "/tile/cta/2",
        fmt::format("CTA tile K = {} is not a multiple of the MMA K = {}", spec.cta.k, kMmaK));
  if (spec.stages < kMinStages || spec.stages > kMaxStages)
    add("stage-count", "/stages",
        fmt::format("{} pipeline stages; the ring needs at least {} (one loading while one computes) and at most {}",
                    spec.stages, kMinStages, kMaxStages));

  // Thread counts and ring sizes are only meaningful for a tile the warps divide.
  bool tileDivides = std::none_of(violations.begin(), violations.end(),
                                  [](const auto &v) { return v.rule == "warp-divides-cta"; });
  if (tileDivides) {
    int accumulators = (spec.warp.m / kMmaM) * (spec.warp.n / kMmaN) * kAccumulatorsPerMmaTile;
    if (spec.warp.m % kMmaM == 0 && accumulators > kMaxAccumulatorsPerThread)
      add("accumulator-registers", "/tile/warp",
          fmt::format("warp tile {}x{} keeps {} fp32 accumulators per thread; at most {} fit in registers",
                      spec.warp.m, spec.warp.n, accumulators, kMaxAccumulatorsPerThread));
    for (int sm : spec.targetSms) {
      auto target = findTarget(sm);
      if (!target)
        continue;
      if (spec.threadCount() > target->maxThreadsPerBlock)
        add("thread-limit", "/tile",
            fmt::format("{} warps x 32 = {} threads per CTA; {} allows at most {}", spec.warpCount(),
                        spec.threadCount(), smName(sm), target->maxThreadsPerBlock));
      int bytes = sharedMemoryBytes(spec);
      if (bytes > target->maxSharedMemoryPerBlock)
        add("shared-memory", "/stages",
            fmt::format("{} stages of the {}x{}x{} tile need {} bytes of shared memory; {} allows at most {}",
                        spec.stages, spec.cta.m, spec.cta.n, spec.cta.k, bytes, smName(sm),
                        target->maxSharedMemoryPerBlock));
    }
  }
  return violations;
}

} // namespace sparsekgen
