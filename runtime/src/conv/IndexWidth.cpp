#include "sparsekgen/IndexWidth.h"

#include <algorithm>
#include <initializer_list>
#include <limits>

#include <fmt/format.h>

#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

// Saturating: three sizes of up to 2^31 each would overflow 64 bits.
long long product(std::initializer_list<long long> factors) {
  long long result = 1;
  for (long long factor : factors)
    if (__builtin_mul_overflow(result, std::max(factor, 0LL), &result))
      return std::numeric_limits<long long>::max();
  return result;
}

const KernelDescription *findDescription(const std::vector<KernelDescription> &kernels, const std::string &name) {
  auto it = std::find_if(kernels.begin(), kernels.end(), [&](const KernelDescription &k) { return k.name == name; });
  return it == kernels.end() ? nullptr : &*it;
}

skg_operation operationOf(const std::string &spelling) {
  const auto &names = operationSpellings();
  auto it = std::find(names.begin(), names.end(), spelling);
  if (it == names.end())
    throw RuntimeError(fmt::format("unknown operation '{}'", spelling));
  return static_cast<skg_operation>(it - names.begin());
}


} // namespace

IndexedTensor largestIndexedTensor(const DataflowInfo &dataflow, skg_operation operation, const ConvShape &s) {
  std::vector<IndexedTensor> tensors;
  if (operation == SKG_WEIGHT_GRAD) {
    tensors = {{"input", product({s.inputs, s.inChannels})},
               {"output_grad", product({s.outputs, s.outChannels})},
               {"weight_grad", product({s.kernelVolume, s.inChannels, s.outChannels})},
               {"partials", product({s.splits, s.inChannels, s.outChannels})}};
  } else {
    tensors = {{"input", product({s.inputs, s.inChannels})},
               {"weight", product({s.kernelVolume, s.inChannels, s.outChannels})},
               {"output", product({s.outputs, s.outChannels})}};
    if (dataflow.extras != MapExtras::PairLists)
      tensors.push_back({"out_in_map", product({s.outputs, s.kernelVolume})});
    if (dataflow.extras == MapExtras::SortInputs)
      tensors.push_back({"permutation", product({s.outputs, s.splits})});
    if (dataflow.sink == OutputSink::SplitPartials)
      tensors.push_back({"partials", product({s.splits, s.outputs, s.outChannels})});
    else if (dataflow.has(CompanionKernel::Reduce))
      tensors.push_back({"partials", product({s.outputs, s.outChannels})});
    if (dataflow.has(CompanionKernel::Gather))
      tensors.push_back({"gathered", product({s.pairs, s.inChannels})});
    if (dataflow.sink == OutputSink::PairProducts)
      tensors.push_back({"products", product({s.pairs, s.outChannels})});
  }
  return *std::max_element(tensors.begin(), tensors.end(),
                           [](const IndexedTensor &a, const IndexedTensor &b) { return a.elements < b.elements; });
}

ConvShape operationShape(const LayerKey &key, const LayerExtents &e, const DataflowInfo &dataflow, int splits) {
  ConvShape s{e.inputs, e.outputs, key.inChannels, key.outChannels, key.kernelVolume, 1, e.pairs};
  if (key.operation == "weight_grad") {
    // Each offset's pairs fall into at most `splits` K chunks.
    const int chunksPerOffset = splits > 0 ? dataflow.splitsFor(splits, dataflow.maxSplits) : dataflow.maxSplits;
    s.splits = static_cast<long long>(key.kernelVolume) * chunksPerOffset;
    return s;
  }
  s.splits = dataflow.splitsFor(splits, key.kernelVolume);
  if (key.operation == "input_grad") {
    std::swap(s.inputs, s.outputs);
    std::swap(s.inChannels, s.outChannels);
  }
  return s;
}

Dispatch widenWhereNeeded(const Dispatch &chosen, const LayerKey &key, const LayerExtents &extents,
                          const std::vector<KernelDescription> &kernels) {
  const KernelDescription *kernel = findDescription(kernels, chosen.choice.kernel);
  if (!kernel)
    throw RuntimeError(fmt::format("kernel {} is not in the bundle", chosen.choice.kernel));
  const DataflowInfo *dataflow = findDataflow(kernel->dataflow);
  if (!dataflow)
    throw RuntimeError(fmt::format("kernel {}: unknown dataflow '{}'", kernel->name, kernel->dataflow));
  const IndexedTensor largest = largestIndexedTensor(*dataflow, operationOf(key.operation),
                                                     operationShape(key, extents, *dataflow, chosen.choice.splits));
  if (reaches(kernel->indexBits, largest.elements))
    return chosen;
  const std::string why = fmt::format("{} has {} elements, more than the {} that 32-bit kernels index", largest.name,
                                      largest.elements, SKG_MAX_32BIT_ELEMENTS);
  if (const KernelDescription *twin = findDescription(kernels, kernel->name + SKG_WIDE_INDEX_SUFFIX)) {
    Dispatch wide = chosen;
    wide.choice.kernel = twin->name;
    wide.reason = fmt::format("{}; its 64-bit twin, since {}", chosen.reason, why);
    return wide;
  }
  LayerKey wideKey = key;
  wideKey.indexBits = 64;
  Dispatch wide;
  try {
    wide = heuristicChoice(wideKey, kernels);
  } catch (const RuntimeError &error) {
    throw RuntimeError(fmt::format("{}, and the bundle has no 64-bit kernel (index_bits 64) for this layer: {}", why,
                                   error.what()));
  }
  wide.reason = fmt::format("{} and {} has no 64-bit twin: {}", why, kernel->name, wide.reason);
  return wide;
}

} // namespace sparsekgen
