#include "sparsekgen/ConvDispatch.h"

#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/IndexWidth.h"
#include "sparsekgen/LaunchArguments.h"

namespace sparsekgen {

DispatchedKernel dispatchConvKernel(const Context &context, const ConfigTable *table,
                                    const std::vector<KernelDescription> &kernels, const LayerKey &key,
                                    const DeviceKernelMap &map, long long pairs) {
  DispatchedKernel d;
  d.dispatch = widenWhereNeeded(table ? table->dispatch(key, kernels) : heuristicChoice(key, kernels), key,
                                {map.inputCount(), map.outputCount(), pairs}, kernels);
  const int kernelVolume = map.volume;
  d.kernel = &context.findKernel(d.dispatch.choice.kernel);
  const DataflowInfo &info = dataflowInfo(d.kernel->dataflow);
  d.splits = info.rows == RowSource::PairsAlongK ? d.dispatch.choice.splits
                                                 : info.splitsFor(d.dispatch.choice.splits, kernelVolume);
  return d;
}

std::optional<MapExtrasRequest> mapExtrasRequest(const skg_kernel_record &kernel, int splits) {
  MapExtrasRequest request;
  switch (dataflowInfo(kernel.dataflow).extras) {
  case MapExtras::SortInputs:
    request.splits = splits;
    request.tileRows = static_cast<int>(mainFunction(kernel).rows_per_block);
    return request;
  case MapExtras::PairLists:
    request.pairs = true;
    return request;
  case MapExtras::None:
    break;
  }
  return std::nullopt;
}

} // namespace sparsekgen
