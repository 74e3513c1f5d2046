// The main loop the GEMM dataflows share, as composable parts: the pipeline (gathered A tiles and
// weight B tiles through a cp.async ring into ldmatrix + mma.sync) is fixed; a dataflow is the
// choice of three parts around it, which its template file makes:
//   RowSourcePart       which rows of A a CTA's tile rows stand for, and which output rows they feed
//   OffsetSchedulePart  which kernel offsets the K loop visits
//   OutputSinkPart      where the accumulators go
//   TileCopiesPart      which global elements each K step copies into the ring (by operation:
//                       forward and input gradient gather A rows and read W; the weight gradient
//                       gathers both operands along K)
// The first three mirror columns of the dataflow table (sparsekgen/DataflowTable.h).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include "../KernelTemplate.h"
#include "sparsekgen/generator/SharedRing.h"
#include "sparsekgen/generator/blocks/Epilogue.h"
#include "sparsekgen/generator/blocks/PipelineRing.h"
#include "sparsekgen/generator/blocks/TmaWeightTiles.h"

namespace sparsekgen {

// The values every part may read, made by the main loop in a fixed order.
struct MainloopState {
  MainloopState(KernelBuilder &kb, const KernelSpec &spec, const KernelArguments &arguments);

  KernelBuilder &kb;
  const KernelSpec &spec;
  const KernelArguments &arguments;
  SharedRingLayout layout;
  int threads = 0;
  bool async = true; // cp.async copies (else element loads and stores)

  // Size arguments as index values; null where the kernel has no such parameter.
  mlir::Value outputs, inChannels, outChannels, kernelVolume, maskWords, splits;
  mlir::Value operandA, weight; // the A operand ("input", or gather-GEMM-scatter's "gathered") and W
  mlir::Value thread, lane, warpRow, warpCol;
  mlir::Value rowBase, colBase; // the CTA's first tile row (row tiles) and first output column
  mlir::Value splitGroup;       // the CTA's split group (grid.z), or 0
  mlir::Value slabBase;         // splitGroup * outputs: this group's rows in permutations and partial slabs
  mlir::Value channelSteps;     // K steps per offset: ceil(Cin / CTA K)
  SharedRingViews ring;
  std::optional<TmaWeightTiles> tma; // warpgroup_mma_tma: the weight tiles come by TMA
  // Pair-tiled row sources: the tile's offset and its pairs [begin, end).
  mlir::Value tileOffset, tileBegin, tileEnd;

  int mmaRows() const;
  int mmaCols() const;
  // The tile row and column of accumulator (i, j) of this warp's m16n8 grid.
  mlir::Value fragmentRow(mlir::Value first, int i);
  mlir::Value fragmentColumn(int j);
};

class RowSourcePart {
public:
  virtual ~RowSourcePart() = default;
  // The base of this split group's rows in permutations and partial slabs.
  virtual mlir::Value slabBase(MainloopState &state);
  // Runs once the ring exists; pair-tiled sources load their tile here.
  virtual void prepare(MainloopState &) {}
  // Whether tile row `tileRow` reads an A row at `offset`, and which one (i32).
  virtual std::pair<mlir::Value, mlir::Value> gatheredRow(MainloopState &state, mlir::Value tileRow,
                                                          mlir::Value offset, mlir::Value zeroI32) = 0;
  // The output row (and map row) tile row position `sortedRow` stands for.
  virtual mlir::Value outputRow(MainloopState &state, mlir::Value sortedRow) { return sortedRow; }
};

class OffsetSchedulePart {
public:
  virtual ~OffsetSchedulePart() = default;
  // The CTA's split group (grid.z), or 0 for schedules without splits.
  virtual mlir::Value splitGroup(MainloopState &state);
  // The K loop's step count; runs after the row source's prepare.
  virtual mlir::Value steps(MainloopState &state) = 0;
  // The kernel offset of step `step` (its slot = step / channel steps); `stepExists` is false for
  // the prologue's steps past the end.
  virtual mlir::Value offsetOf(MainloopState &state, mlir::Value slot, mlir::Value stepExists) = 0;
};

class OutputSinkPart {
public:
  virtual ~OutputSinkPart() = default;
  virtual void store(MainloopState &state, RowSourcePart &rows, mlir::ValueRange accumulators) = 0;
};

struct MainloopParts;

class TileCopiesPart {
public:
  virtual ~TileCopiesPart() = default;
  // Issues K step `step`'s copies into ring stage `stage` (zero-filling where `stepExists` is
  // false), appending their async tokens.
  virtual void issue(MainloopState &state, MainloopParts &parts, mlir::Value step, mlir::Value stepExists,
                     mlir::Value stage, llvm::SmallVector<mlir::Value> &tokens) = 0;
};

struct MainloopParts {
  std::unique_ptr<RowSourcePart> rows;
  std::unique_ptr<OffsetSchedulePart> offsets;
  std::unique_ptr<OutputSinkPart> sink;
  std::unique_ptr<TileCopiesPart> copies; // null: convolutionTiles()
};

// Tile copies (Mainloop.cpp): A rows from the row source, B from the weight (transposed for the
// input gradient).
std::unique_ptr<TileCopiesPart> convolutionTiles();

// One copy chunk of a ring tile: `channelAlignment` elements at (row, col). When the chunks do not
// divide evenly among the threads, inRange is false for the surplus ones (null when they divide).
struct TileChunk {
  mlir::Value row, col, inRange;
  int paddingColumn = 0; // the tile's row length: where a surplus chunk lands, in the row padding
};
// Calls `copy` for this thread's share of the chunks of a `rows` x `columns` tile
// (chunk = thread + i * threads, row-major).
void forEachTileChunk(MainloopState &state, int rows, int columns, const std::function<void(const TileChunk &)> &copy);
// Copies `sourceOffset..` of `source` (when `valid`) to ring[stage][chunk.row][chunk.col]. A
// surplus chunk copies nothing and lands in the padding of row 0, which the fragment loads never read.
void copyChunk(MainloopState &state, mlir::Value ring, mlir::Value stage, const TileChunk &chunk, mlir::Value source,
               mlir::Value sourceOffset, mlir::Value valid, llvm::SmallVector<mlir::Value> &tokens);

// Row sources (RowSources.cpp).
std::unique_ptr<RowSourcePart> naturalRows();   // output rows in order, A rows through out_in_map
std::unique_ptr<RowSourcePart> permutedRows();  // through the split group's sort permutation
std::unique_ptr<RowSourcePart> pairListRows();  // one offset's pairs, A rows through pair_inputs
std::unique_ptr<RowSourcePart> gatheredPairRows(); // one offset's pairs, rows of the gathered matrix
std::unique_ptr<RowSourcePart> pairChunkRows();    // a K chunk of one offset's pairs (tile = blockIdx.z)

// Offset schedules (OffsetSchedules.cpp).
std::unique_ptr<OffsetSchedulePart> allOffsets();
// The offsets set in the tile's OR-reduced mask; with `splitGroups`, of the CTA's grid.z group only.
std::unique_ptr<OffsetSchedulePart> maskedOffsets(bool splitGroups);
std::unique_ptr<OffsetSchedulePart> onePerTile();
std::unique_ptr<OffsetSchedulePart> pairChunkSteps(); // the K chunk's pairs, CTA K per step

// Output sinks (OutputSinks.cpp).
std::unique_ptr<OutputSinkPart> epilogueStore();   // fused epilogue, conversion, store through outputRow
std::unique_ptr<OutputSinkPart> splitPartials();   // fp32 into the split group's [outputs, Cout] slab
std::unique_ptr<OutputSinkPart> atomicPartials();  // fp32 atomic adds to the pairs' output rows
std::unique_ptr<OutputSinkPart> pairProducts();    // dense fp32 products, one row per pair
std::unique_ptr<OutputSinkPart> tilePartials();    // fp32 [Cin, Cout] partial per K chunk

// Parameters of the output-row-tiled main kernels, in launch order: input, weight, out_in_map,
// `destination`, outputs, in_channels, out_channels, kernel_volume.
std::vector<KernelParameter> outputTileParameters(const KernelSpec &spec, KernelParameter destination);
// The sort inputs of a masked offset schedule: permutation, tile_masks, mask_words.
std::vector<KernelParameter> sortInputParameters();
// Parameters of the pair-tiled main kernels: the tile arrays tile_offsets, tile_begins, tile_ends.
std::vector<KernelParameter> pairTileParameters();
// Parameters of main kernels that gather through the pair lists and write fp32 partials, in launch
// order: input, `second` (the weight, or the weight gradient's output_grad), pair_inputs,
// pair_outputs, the tile arrays, partials, in_channels, out_channels.
std::vector<KernelParameter> pairListParameters(const KernelSpec &spec, KernelParameter second);

// The main kernel of a GEMM dataflow: `parameters` in launch order, `parts` made per build.
FunctionTemplate mainloopFunction(const KernelSpec &spec, std::vector<KernelParameter> parameters,
                                  skg_grid_rule grid, std::function<MainloopParts()> parts);

} // namespace sparsekgen
