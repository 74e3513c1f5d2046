// The dataflow table's entries agree with each other's columns and with the enumerations: the
// rules the templates and the runtime rely on when they read the table instead of dataflow names.
#include <gtest/gtest.h>

#include "sparsekgen/ConvArguments.h"
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
  std::vector<int> dense(SKG_OPERATION_COUNT), sparse(SKG_OPERATION_COUNT);
  for (const auto &entry : dataflowTable()) {
    SCOPED_TRACE(std::string(entry.spelling()));
    // Rows of pairs (row tiles or the weight gradient's K) visit one offset per tile and read pair
    // lists; masked lists need sort inputs.
    const bool pairRows = entry.pairTiled() || entry.rows == RowSource::PairsAlongK;
    EXPECT_EQ(pairRows, entry.offsets == OffsetSchedule::OnePerTile);
    EXPECT_EQ(pairRows, entry.extras == MapExtras::PairLists);
    EXPECT_EQ(pairRows, entry.pairTileLaunches != PairTileLaunches::None);
    EXPECT_EQ(entry.rows == RowSource::PairsAlongK, entry.pairTileLaunches == PairTileLaunches::KChunks);
    EXPECT_EQ(entry.offsets == OffsetSchedule::MaskedList, entry.extras == MapExtras::SortInputs);
    EXPECT_EQ(entry.rows == RowSource::Permuted, entry.offsets == OffsetSchedule::MaskedList);
    // Whatever the main kernel leaves unfinished, the reduction finishes.
    EXPECT_EQ(entry.sink != OutputSink::EpilogueStore, entry.has(CompanionKernel::Reduce));
    EXPECT_EQ(entry.sink == OutputSink::PairProducts, entry.has(CompanionKernel::Scatter));
    EXPECT_EQ(entry.rows == RowSource::GatheredPairs, entry.has(CompanionKernel::Gather));
    // Only split partials (a slab per split) and the weight gradient's chunk partials take splits.
    EXPECT_EQ(entry.takesSplits(),
              entry.sink == OutputSink::SplitPartials || entry.sink == OutputSink::TilePartials);
    EXPECT_LE(entry.tunedSplitsFirst, entry.tunedSplitsLast);
    EXPECT_LE(entry.tunedSplitsLast, entry.maxSplits);
    // Every forward dataflow serves the input gradient (the forward on the transposed map); the
    // weight gradient has a dataflow of its own.
    EXPECT_EQ(entry.serves(SKG_FORWARD), entry.serves(SKG_INPUT_GRAD));
    EXPECT_NE(entry.serves(SKG_FORWARD), entry.serves(SKG_WEIGHT_GRAD));
    EXPECT_EQ(entry.serves(SKG_WEIGHT_GRAD), entry.rows == RowSource::PairsAlongK);
    for (skg_operation operation : entry.operations) {
      EXPECT_EQ(entry.abiName(operation),
                std::string(entry.spelling()) + "_" + std::string(operationSpellings()[operation]) + ".v3");
      dense[operation] += entry.heuristicDense;
      sparse[operation] += entry.heuristicSparse;
    }
  }
  for (int operation = 0; operation < SKG_OPERATION_COUNT; ++operation) {
    SCOPED_TRACE(std::string(operationSpellings()[operation]));
    EXPECT_EQ(dense[operation], 1) << "the heuristic needs exactly one dataflow for dense maps";
    EXPECT_EQ(sparse[operation], 1) << "the heuristic needs exactly one dataflow for sparse maps";
  }
}

TEST(WeightGradChunks, AChunkLengthGivesLargeOffsetsMoreChunks) {
  // Offsets with 1000, 10 and 300 pairs, chunks of 200 pairs (rounded up to 256): 4, 1 and 2 chunks.
  std::vector<int32_t> pairOffsets = {0, 1000, 1010, 1310};
  WeightGradChunks chunks = weightGradChunks(pairOffsets, /*splits=*/1, /*chunkPairs=*/200);
  const unsigned n = chunks.count;
  ASSERT_EQ(n, 7u);
  std::vector<int32_t> begins(chunks.arrays.begin() + n, chunks.arrays.begin() + 2 * n);
  std::vector<int32_t> first(chunks.arrays.begin() + 3 * n, chunks.arrays.end());
  EXPECT_EQ(begins, (std::vector<int32_t>{0, 256, 512, 768, 1000, 1010, 1266}));
  EXPECT_EQ(first, (std::vector<int32_t>{0, 4, 5, 7}));
}

TEST(WeightGradChunks, ChunksCoverEachOffsetsPairsInOrder) {
  // Offsets with 0, 1, 130 and 64 pairs, 2 splits: chunk lengths round up to 64.
  std::vector<int32_t> pairOffsets = {0, 0, 1, 131, 195};
  WeightGradChunks chunks = weightGradChunks(pairOffsets, 2);
  const unsigned n = chunks.count;
  ASSERT_EQ(n, 4u); // offset 1: 1 chunk; offset 2: [1, 129) and [129, 131); offset 3: 1 chunk
  std::vector<int32_t> offsets(chunks.arrays.begin(), chunks.arrays.begin() + n);
  std::vector<int32_t> begins(chunks.arrays.begin() + n, chunks.arrays.begin() + 2 * n);
  std::vector<int32_t> ends(chunks.arrays.begin() + 2 * n, chunks.arrays.begin() + 3 * n);
  std::vector<int32_t> first(chunks.arrays.begin() + 3 * n, chunks.arrays.end());
  EXPECT_EQ(offsets, (std::vector<int32_t>{1, 2, 2, 3}));
  EXPECT_EQ(begins, (std::vector<int32_t>{0, 1, 129, 131}));
  EXPECT_EQ(ends, (std::vector<int32_t>{1, 129, 131, 195}));
  EXPECT_EQ(first, (std::vector<int32_t>{0, 0, 1, 3, 4}));
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
