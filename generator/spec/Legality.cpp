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

namespace {

// Warpgroup MMA (blocks/WarpgroupMma.h): each warpgroup of four warps computes 64 rows x the CTA's
// N with wgmma.mma_async m64nNk16, reading A and B from shared memory in the layouts a TMA box with
// 128-byte swizzle writes; its accumulators are per warp the m16n8 fragments of 16 rows x N, so
// the stores and epilogues of mma.sync kernels serve it unchanged.
template <typename Add> void addWarpgroupRules(const KernelSpec &spec, Add &&add) {
  if (spec.dtypes.input == DataType::F32)
    add("warpgroup-mma-types", "/math", "warpgroup_mma takes f16 or bf16 operands (tf32 warpgroup kernels are not generated)");
  if (spec.operation != ConvOperation::Forward)
    add("warpgroup-mma-operation", "/operation",
        fmt::format("warpgroup_mma kernels are forward kernels: {} reads the weight K-contiguous (or gathers both "
                    "operands along K), which the warpgroup main loop does not copy yet",
                    toString(spec.operation)));
  if (spec.targetSms != std::vector<int>{90})
    add("warpgroup-mma-target", "/targets",
        "warpgroup_mma kernels target [\"sm_90\"] alone: they are assembled for sm_90a, whose cubins run on "
        "compute capability 9.0 only (no PTX for other GPUs)");
  if (spec.channelAlignment != 8)
    add("warpgroup-mma-alignment", "/channel_alignment",
        "warpgroup_mma copies 16-byte chunks into the swizzled layout: channel_alignment must be 8");
  if (spec.cta.k != kWarpgroupK)
    add("warpgroup-mma-k", "/tile/cta/2",
        fmt::format("warpgroup_mma reads K in 128-byte swizzle rows: CTA tile K must be {}", kWarpgroupK));
  if (spec.cta.m % kWarpgroupM != 0)
    add("warpgroup-mma-m", "/tile/cta/0",
        fmt::format("CTA tile M = {} is not a multiple of {} (one warpgroup computes 64 rows)", spec.cta.m, kWarpgroupM));
  if (spec.cta.n % kWarpgroupK != 0 || spec.cta.n > kWarpgroupMaxN)
    add("warpgroup-mma-n", "/tile/cta/1",
        fmt::format("CTA tile N = {}: warpgroup_mma takes N a multiple of 64 (the B tile is 64-column swizzle "
                    "boxes) up to {}", spec.cta.n, kWarpgroupMaxN));
  if (spec.warp.m != kMmaM || spec.warp.n != spec.cta.n)
    add("warpgroup-mma-warp-tile", "/tile/warp",
        fmt::format("warpgroup_mma warps own 16 rows x the CTA's N: warp tile must be [16, {}, {}], not [{}, {}, {}]",
                    spec.cta.n, spec.cta.k, spec.warp.m, spec.warp.n, spec.warp.k));
  // The swizzled tiles have no row padding to park surplus chunks in: every thread copies the same
  // number of 16-byte chunks of A (CTA M x 64) and of B (64 x CTA N).
  const int threads = spec.cta.m / kMmaM * 32;
  if (spec.cta.m % kWarpgroupM == 0 && (spec.cta.n * kWarpgroupK / 8) % threads != 0)
    add("warpgroup-mma-copies", "/tile/cta",
        fmt::format("the {}x{} B tile's {} 16-byte chunks do not divide among {} threads", kWarpgroupK, spec.cta.n,
                    spec.cta.n * kWarpgroupK / 8, threads));
  // A thread keeps N / 2 accumulators plus addresses and loop state (about 48 registers in the
  // generated kernels); ptxas caps a thread at 65536 / threads registers, 255 at most. Past that it
  // spills or, for 512 threads and N = 256, fails.
  const int registerCap = std::min(255, 65536 / std::max(threads, 1));
  if (spec.cta.m % kWarpgroupM == 0 && spec.cta.n / 2 + kWarpgroupRegisterOverhead > registerCap)
    add("warpgroup-mma-registers", "/tile/cta",
        fmt::format("{} threads hold at most {} registers each; {} accumulators (N / 2) and about {} more do not fit "
                    "(a smaller CTA M or N)",
                    threads, registerCap, spec.cta.n / 2, kWarpgroupRegisterOverhead));
  if (spec.stages < 3)
    add("warpgroup-mma-stages", "/stages",
        "warpgroup_mma keeps one stage in flight in the tensor cores while one computes and one loads: at least 3 stages");
  // TMA copies the weight's [offset, K rows, N columns] boxes: the implicit-GEMM dataflows' B tile
  // (one offset's W[k] rows per K step); pair-list dataflows gather B per pair tile instead.
  if (spec.tmaWeights() && spec.dataflow != SKG_IMPLICIT_GEMM && spec.dataflow != SKG_IMPLICIT_GEMM_SORTED &&
      spec.dataflow != SKG_IMPLICIT_GEMM_SPLIT)
    add("warpgroup-mma-tma-dataflow", "/dataflow",
        fmt::format("warpgroup_mma_tma loads the weight tile of one kernel offset per K step by TMA: the implicit "
                    "GEMM dataflows (implicit_gemm, implicit_gemm_sorted, implicit_gemm_split), not {}",
                    toString(spec.dataflow)));
}

} // namespace

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
  if (!fp32 && spec.math != MathMode::TensorCore && !spec.warpgroupMma())
    add("math-for-fp32", "/math",
        fmt::format("\"math\": \"{}\" applies to f32 operands only; {} operands use tensor cores",
                    toString(spec.math), toString(spec.dtypes.input)));
  if (spec.warpgroupMma())
    addWarpgroupRules(spec, add);
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
