// The dataflow table: what each dataflow is, as data. One entry per skg_dataflow says where a
// tile's rows come from, which kernel offsets it visits, where its results go, which companion
// kernels run with it, which map extras it reads, which split counts it takes and which operations
// it serves. The generator's legality rules and shared-memory ring, the template registry, the
// runtime's argument checks and launches, the network executor, the tuner and `explain` read it
// instead of switching on dataflows. Adding a dataflow is one entry here and one template file
// (docs/architecture.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sparsekgen/KernelEnums.h"

namespace sparsekgen {

using Dataflow = skg_dataflow;

// Which rows of A a CTA's tile rows stand for.
enum class RowSource {
  Natural,       // output rows in their order; A rows through out_in_map
  Permuted,      // output rows through a sort permutation (by offset bitmask); A rows through out_in_map
  PairList,      // a tile of one offset's (input, output) pairs; A rows through the pair list
  GatheredPairs, // a tile of one offset's pairs; A rows are those of a gathered matrix, in pair order
  PairsAlongK,   // the weight gradient: the GEMM's K runs over a chunk of one offset's pairs, and both
                 // operands (x rows, dy rows) are gathered along it through the pair lists
};

// Which kernel offsets a tile's K loop visits.
enum class OffsetSchedule {
  AllOffsets, // every offset of the map
  MaskedList, // those set in the tile's OR-reduced mask (of the tile's split group)
  OnePerTile, // the one offset of the tile's pairs
};

// Where a tile's accumulators go.
enum class OutputSink {
  EpilogueStore,  // fused epilogue, conversion and store to the output
  SplitPartials,  // fp32 partial sums, one [outputs, Cout] slab per split, for the reduction
  AtomicPartials, // fp32 atomic adds into one [outputs, Cout] slab, for the reduction
  PairProducts,   // dense fp32 products per pair, for the scatter
  TilePartials,   // one fp32 [Cin, Cout] partial per K tile, which the reduction adds in tile order
};

// Kernels of the same image run with the main kernel; each is named <main kernel><suffix>.
enum class CompanionKernel {
  Reduce,  // "_reduce": sums fp32 partial slabs (in a fixed order), applies the epilogue, converts and stores
  Gather,  // "_gather": copies the pairs' input rows into a dense matrix
  Scatter, // "_scatter": adds per-pair products to the pairs' output rows (fp32 atomics)
};
std::string_view companionSuffix(CompanionKernel kernel);

// What the dataflow reads besides out_in_map, built from the map (kernelMapExtrasGpu).
enum class MapExtras {
  None,
  SortInputs, // per split group: sort permutation and OR-reduced tile masks
  PairLists,  // per-offset (input, output) pair lists with their offsets
};

// How pair tiles are grouped into launches (pair-tiled dataflows only).
enum class PairTileLaunches {
  None,
  AllOffsetsInOne,   // every offset's tiles in one launch
  KChunks,           // every offset's pairs in chunks of ceil(pairs / splits) (a multiple of CTA K), one launch
  SimilarPairCounts, // one launch per group of offsets whose pair counts are within a factor of two
};

struct DataflowInfo {
  Dataflow id;
  RowSource rows;
  OffsetSchedule offsets;
  OutputSink sink;
  std::vector<CompanionKernel> companions; // in the order they run after (reduce) or around (gather, scatter) the main kernel
  MapExtras extras;
  PairTileLaunches pairTileLaunches;
  // Split counts (grid.z) the kernels take; a range past 1 means the offsets are split into that
  // many groups, each with its own sort inputs. tunedSplits: the counts the tuner tries.
  int maxSplits = 1;
  int tunedSplitsFirst = 1, tunedSplitsLast = 1;
  std::vector<skg_operation> operations; // the operations it has templates for
  // Per operation, the dataflow the dispatch heuristic takes for small or dense maps (at most one),
  // and the one it takes for large sparse maps (at most one); others are chosen by tuned tables only.
  bool heuristicDense = false, heuristicSparse = false;

  std::string_view spelling() const;
  bool takesSplits() const { return maxSplits > 1; }
  // Row tiles of one offset's pairs (forward and input-gradient kernels over pair lists).
  bool pairTiled() const { return rows == RowSource::PairList || rows == RowSource::GatheredPairs; }
  bool has(CompanionKernel kernel) const;
  bool serves(skg_operation operation) const;
  // The launch ABI name of this dataflow's `operation` kernels, e.g. "implicit_gemm_sorted_forward.v3"
  // (made once: every launch compares a kernel's record against it).
  const std::string &abiName(skg_operation operation) const;
  // The split count a launch uses when a config table asks for `requested` on a map of `volume`
  // offsets: 1 for dataflows without splits, else clamped to [1, volume].
  int splitsFor(int requested, int volume) const;
};

// Every dataflow, in skg_dataflow order.
const std::vector<DataflowInfo> &dataflowTable();
// Throws RuntimeError for a value outside skg_dataflow (e.g. read from a foreign bundle).
const DataflowInfo &dataflowInfo(uint32_t dataflow);
// The entry spelled `spelling`, or nullptr.
const DataflowInfo *findDataflow(std::string_view spelling);
// The names of every entry's ABI of `operation`, for messages.
std::string knownAbiNames(skg_operation operation);

// The largest kernel volume the masked offset schedule takes (7 x 7 x 7): a CTA keeps its active
// offsets in shared memory.
constexpr int kMaxMaskedVolume = 343;

// Output columns one thread stores together: 2 when Cout is even (channel alignment >= 2), else 1.
constexpr int storeWidth(int channelAlignment) { return channelAlignment >= 2 ? 2 : 1; }

} // namespace sparsekgen
