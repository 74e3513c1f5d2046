// The dataflow table's entries agree with each other's columns and with the enumerations: the
// rules the templates and the runtime rely on when they read the table instead of dataflow names.
#include <gtest/gtest.h>

#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/KernelMap.h"

namespace sparsekgen {
namespace {

TEST(DataflowTable, OneEntryPerDataflowInEnumerationOrder) {
  ASSERT_EQ(dataflowTable().size(), static_cast<size_t>(SKG_DATAFLOW_COUNT));
  for (size_t i = 0; i < dataflowTable().size(); ++i) {
    const DataflowInfo &entry = dataflowTable()[i];
    EXPECT_EQ(static_cast<size_t>(entry.id), i);
    EXPECT_EQ(entry.spelling(), dataflowSpellings()[i]);
    EXPECT_EQ(findDataflow(entry.spelling()), &entry);
  }
  EXPECT_EQ(findDataflow("implicit_gemm_sorted")->id, SKG_IMPLICIT_GEMM_SORTED);
  EXPECT_EQ(findDataflow("no_such_dataflow"), nullptr);
  EXPECT_THROW(dataflowInfo(SKG_DATAFLOW_COUNT), RuntimeError);
}

TEST(DataflowTable, ColumnsAgree) {
  int dense = 0, sparse = 0;
  for (const auto &entry : dataflowTable()) {
    SCOPED_TRACE(std::string(entry.spelling()));
    // Pair-tiled rows visit one offset per tile and read pair lists; masked lists need sort inputs.
    EXPECT_EQ(entry.pairTiled(), entry.offsets == OffsetSchedule::OnePerTile);
    EXPECT_EQ(entry.pairTiled(), entry.extras == MapExtras::PairLists);
    EXPECT_EQ(entry.pairTiled(), entry.pairTileLaunches != PairTileLaunches::None);
    EXPECT_EQ(entry.offsets == OffsetSchedule::MaskedList, entry.extras == MapExtras::SortInputs);
    EXPECT_EQ(entry.rows == RowSource::Permuted, entry.offsets == OffsetSchedule::MaskedList);
    // Whatever the main kernel leaves unfinished, the reduction finishes.
    EXPECT_EQ(entry.sink != OutputSink::EpilogueStore, entry.has(CompanionKernel::Reduce));
    EXPECT_EQ(entry.sink == OutputSink::PairProducts, entry.has(CompanionKernel::Scatter));
    EXPECT_EQ(entry.rows == RowSource::GatheredPairs, entry.has(CompanionKernel::Gather));
    // Only split partials have a slab per split.
    EXPECT_EQ(entry.takesSplits(), entry.sink == OutputSink::SplitPartials);
    EXPECT_LE(entry.tunedSplitsFirst, entry.tunedSplitsLast);
    EXPECT_LE(entry.tunedSplitsLast, entry.maxSplits);
    EXPECT_TRUE(entry.serves(SKG_FORWARD));
    EXPECT_EQ(entry.abiName(SKG_FORWARD), std::string(entry.spelling()) + "_forward.v3");
    dense += entry.heuristicDense;
    sparse += entry.heuristicSparse;
  }
  EXPECT_EQ(dense, 1) << "the heuristic needs exactly one dataflow for dense maps";
  EXPECT_EQ(sparse, 1) << "the heuristic needs exactly one dataflow for sparse maps";
}

TEST(DataflowTable, SplitCountsAreClampedToTheMap) {
  const DataflowInfo &split = dataflowInfo(SKG_IMPLICIT_GEMM_SPLIT);
  EXPECT_EQ(split.splitsFor(4, 27), 4);
  EXPECT_EQ(split.splitsFor(4, 2), 2);
  EXPECT_EQ(split.splitsFor(0, 27), 1);
  EXPECT_EQ(dataflowInfo(SKG_IMPLICIT_GEMM_SORTED).splitsFor(4, 27), 1);
}

TEST(MaskWords, OneHomeForTheFormula) {
  EXPECT_EQ(maskWordCount(0), 1);
  EXPECT_EQ(maskWordCount(27), 1);
  EXPECT_EQ(maskWordCount(32), 1);
  EXPECT_EQ(maskWordCount(33), 2);
  EXPECT_EQ(maskWordCount(343), 11);
  EXPECT_EQ(splitGroupWidth(27, 4), 7);
  EXPECT_EQ(groupMaskWordCount(125, 2), 2); // 63 offsets per group
  EXPECT_EQ(storeWidth(8), 2);
  EXPECT_EQ(storeWidth(1), 1);
}

TEST(EnumNames, SpellingsRoundTrip) {
  EXPECT_EQ(elementBytes(SKG_F16), 2);
  EXPECT_EQ(elementBytes(SKG_F32), 4);
  EXPECT_EQ(findSpelling(dtypeSpellings(), "bf16"), std::optional<uint32_t>(SKG_BF16));
  EXPECT_EQ(findSpelling(epilogueOpSpellings(), "scale_shift"), std::optional<uint32_t>(SKG_EPILOGUE_SCALE_SHIFT));
  EXPECT_EQ(findSpelling(mathSpellings(), "fp64"), std::nullopt);
  EXPECT_STREQ(spellingOf(SKG_ROLE_SCRATCH), "scratch");
  EXPECT_STREQ(spellingOf(static_cast<skg_grid_rule>(99)), "unknown");
}

} // namespace
} // namespace sparsekgen
