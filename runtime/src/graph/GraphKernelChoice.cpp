#include "sparsekgen/GraphKernelChoice.h"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

bool fits(const KernelDescription &k, const GraphKernelRequest &r) {
  const bool weightGrad = r.operation == "weight_grad";
  const bool pairList = weightGrad ? k.dataflow == "pair_split_k"
                                   : (k.dataflow == "fetch_on_demand" || k.dataflow == "gather_gemm_scatter");
  return pairList && k.operation == r.operation && k.operand == r.dtype &&
         k.output == (weightGrad ? std::string("f32") : r.dtype) && k.epilogue == r.epilogue &&
         k.pairWeights == !weightGrad && r.inChannels % k.alignment == 0 && r.outChannels % k.alignment == 0 &&
         (r.dataflow.empty() || k.dataflow == r.dataflow) && (r.allowTf32 || r.preferTf32 || k.math != "tf32") && k.indexBits == 32;
}

} // namespace

const KernelDescription &chooseGraphKernel(const std::vector<KernelDescription> &kernels,
                                           const GraphKernelRequest &request) {
  if (request.inChannels <= 0 || request.outChannels <= 0)
    throw RuntimeError(fmt::format("graph layer: Cin {} and Cout {} must be positive", request.inChannels,
                                   request.outChannels));
  // Tiles of 128 rows and 64 columns where the bundle has them: on an H100 (2026-12-07) the 128 x 64
  // fetch-on-demand forward was the fastest or within 5% of it at Cout 16 and 64 on nearly every
  // graph of bench/rgcn_bench.py (a tile's rows amortise its gathers; the atomics bound the rest).
  // Weight gradients tile [Cin, Cout]: the nearest to the layer.
  const bool weightGrad = request.operation == "weight_grad";
  const int tileM = weightGrad ? (request.inChannels <= 32 ? 32 : 64) : 128;
  const int tileN = weightGrad ? (request.outChannels <= 32 ? 32 : 64) : 64;
  const KernelDescription *best = nullptr;
  long bestScore = 0;
  for (const KernelDescription &k : kernels) {
    if (!fits(k, request))
      continue;
    // Lower is better, in this order of weight.
    const long score = (k.dataflow == "fetch_on_demand" || k.dataflow == "pair_split_k" ? 0 : 10000000) +
                       ((k.math == "tf32") != request.preferTf32 ? 1000000 : 0) + (8 - std::min(k.alignment, 8)) * 100000 +
                       (std::abs(k.tileM - tileM) + std::abs(k.tileN - tileN)) * 100 + std::abs(k.stages - 3);
    if (!best || score < bestScore) {
      best = &k;
      bestScore = score;
    }
  }
  if (!best)
    throw RuntimeError(fmt::format(
        "no kernel of the bundle computes the graph layer's {} ({}, Cin {}, Cout {}, epilogue [{}]{}{}): none has "
        "its types, epilogue, pair weights and a channel alignment dividing Cin and Cout (the graph bundle, "
        "templates/catalogs/graph.json, has them)",
        request.operation, request.dtype, request.inChannels, request.outChannels, fmt::join(request.epilogue, ", "),
        request.dataflow.empty() ? "" : ", dataflow " + request.dataflow,
        request.dtype == "f32" && !request.allowTf32 && !request.preferTf32 ? ", exact fp32" : ""));
  return *best;
}

} // namespace sparsekgen
