#include "sparsekgen/DataflowTable.h"

#include <algorithm>

#include <fmt/format.h>

#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

const std::vector<DataflowInfo> &dataflowTable() {
  using C = CompanionKernel;
  static const std::vector<DataflowInfo> table = [] {
    std::vector<DataflowInfo> entries = {
        // Implicit GEMM, rows in natural order: every offset, epilogue in the store.
        {.id = SKG_IMPLICIT_GEMM,
         .rows = RowSource::Natural,
         .offsets = OffsetSchedule::AllOffsets,
         .sink = OutputSink::EpilogueStore,
         .companions = {},
         .extras = MapExtras::None,
         .pairTileLaunches = PairTileLaunches::None,
         .operations = {SKG_FORWARD, SKG_INPUT_GRAD},
         .heuristicDense = true},
        // Sorted by offset bitmask: a tile visits only the offsets its rows use.
        {.id = SKG_IMPLICIT_GEMM_SORTED,
         .rows = RowSource::Permuted,
         .offsets = OffsetSchedule::MaskedList,
         .sink = OutputSink::EpilogueStore,
         .companions = {},
         .extras = MapExtras::SortInputs,
         .pairTileLaunches = PairTileLaunches::None,
         .operations = {SKG_FORWARD, SKG_INPUT_GRAD},
         .heuristicSparse = true},
        // Split mask: offsets in grid.z groups, each sorted; fp32 partials reduced after.
        {.id = SKG_IMPLICIT_GEMM_SPLIT,
         .rows = RowSource::Permuted,
         .offsets = OffsetSchedule::MaskedList,
         .sink = OutputSink::SplitPartials,
         .companions = {C::Reduce},
         .extras = MapExtras::SortInputs,
         .pairTileLaunches = PairTileLaunches::None,
         .maxSplits = kMaxMaskedVolume,
         .tunedSplitsFirst = 2,
         .tunedSplitsLast = 4,
         .operations = {SKG_FORWARD, SKG_INPUT_GRAD}},
        // Gather the pairs' rows, grouped GEMM over offsets of similar pair counts, scatter, reduce.
        {.id = SKG_GATHER_GEMM_SCATTER,
         .rows = RowSource::GatheredPairs,
         .offsets = OffsetSchedule::OnePerTile,
         .sink = OutputSink::PairProducts,
         .companions = {C::Gather, C::Scatter, C::Reduce},
         .extras = MapExtras::PairLists,
         .pairTileLaunches = PairTileLaunches::SimilarPairCounts,
         .operations = {SKG_FORWARD, SKG_INPUT_GRAD}},
        // Gather, GEMM and scatter fused: tiles of one offset's pairs, fp32 atomics, reduce.
        {.id = SKG_FETCH_ON_DEMAND,
         .rows = RowSource::PairList,
         .offsets = OffsetSchedule::OnePerTile,
         .sink = OutputSink::AtomicPartials,
         .companions = {C::Reduce},
         .extras = MapExtras::PairLists,
         .pairTileLaunches = PairTileLaunches::AllOffsetsInOne,
         .operations = {SKG_FORWARD, SKG_INPUT_GRAD}},
        // The weight gradient dW[k] = sum over offset k's pairs of x[in]^T dy[out]: a GEMM with
        // M = Cin, N = Cout and K = the pairs, both operands gathered along K; each offset's pairs
        // in `splits` K chunks (split-K), one fp32 partial per chunk, added in chunk order by the
        // reduction (deterministic: no floating-point atomics).
        {.id = SKG_PAIR_SPLIT_K,
         .rows = RowSource::PairsAlongK,
         .offsets = OffsetSchedule::OnePerTile,
         .sink = OutputSink::TilePartials,
         .companions = {C::Reduce},
         .extras = MapExtras::PairLists,
         .pairTileLaunches = PairTileLaunches::KChunks,
         .maxSplits = 64,
         .tunedSplitsFirst = 4,
         .tunedSplitsLast = 32,
         .operations = {SKG_WEIGHT_GRAD},
         .heuristicDense = true,
         .heuristicSparse = true},
    };
    // The table is indexed by skg_dataflow: an entry out of place is a programming error.
    for (size_t i = 0; i < entries.size(); ++i)
      if (entries[i].id != static_cast<Dataflow>(i))
        throw RuntimeError(fmt::format("dataflow table entry {} is {}, not in skg_dataflow order", i,
                                       static_cast<int>(entries[i].id)));
    if (entries.size() != SKG_DATAFLOW_COUNT)
      throw RuntimeError("the dataflow table lacks an entry for a dataflow of KernelEnums.h");
    return entries;
  }();
  return table;
}

std::string_view companionSuffix(CompanionKernel kernel) {
  switch (kernel) {
  case CompanionKernel::Reduce:
    return "_reduce";
  case CompanionKernel::Gather:
    return "_gather";
  case CompanionKernel::Scatter:
    return "_scatter";
  }
  return "";
}

std::string_view DataflowInfo::spelling() const { return dataflowSpellings().at(id); }

bool DataflowInfo::has(CompanionKernel kernel) const {
  return std::find(companions.begin(), companions.end(), kernel) != companions.end();
}

bool DataflowInfo::serves(skg_operation operation) const {
  return std::find(operations.begin(), operations.end(), operation) != operations.end();
}

const std::string &DataflowInfo::abiName(skg_operation operation) const {
  static const std::vector<std::vector<std::string>> names = [] {
    std::vector<std::vector<std::string>> all(SKG_DATAFLOW_COUNT);
    for (size_t d = 0; d < all.size(); ++d)
      for (const auto &op : operationSpellings())
        all[d].push_back(fmt::format("{}_{}.v3", dataflowSpellings()[d], op));
    return all;
  }();
  return names.at(id).at(operation);
}

int DataflowInfo::splitsFor(int requested, int volume) const {
  if (!takesSplits())
    return 1;
  return std::clamp(std::min(requested, maxSplits), 1, std::max(1, volume));
}

const DataflowInfo &dataflowInfo(uint32_t dataflow) {
  const auto &table = dataflowTable();
  if (dataflow >= table.size())
    throw RuntimeError(fmt::format("dataflow {} is not one this runtime knows (it knows {}); rebuild the bundle "
                                   "with the matching sparsekgen",
                                   dataflow, table.size()));
  return table[dataflow];
}

const DataflowInfo *findDataflow(std::string_view spelling) {
  auto value = findSpelling(dataflowSpellings(), spelling);
  return value ? &dataflowTable()[*value] : nullptr;
}

std::string knownAbiNames(skg_operation operation) {
  std::string names;
  for (const auto &entry : dataflowTable())
    if (entry.serves(operation))
      names += (names.empty() ? "" : ", ") + entry.abiName(operation);
  return names;
}

} // namespace sparsekgen
