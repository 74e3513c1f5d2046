// Where a tile's accumulators go: through the fused epilogue to the output, to a split group's
// fp32 partial slab, atomically to the pairs' fp32 output rows, or as dense per-pair products.
#include "Mainloop.h"

#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/generator/blocks/WarpMma.h"

namespace sparsekgen {

namespace {

// Row tiles: fragment rows from rowBase, rows at or past `outputs` do not exist, stored through
// the row source's outputRow (offset by `slab` when given).
void storeRowTiles(MainloopState &s, RowSourcePart &rows, mlir::ValueRange accumulators, const char *buffer,
                   const EpilogueOperands &epilogue, bool intoSlab) {
  auto &kb = s.kb;
  OutputTensor out{s.arguments[buffer], s.outChannels, s.outChannels};
  std::function<mlir::Value(mlir::Value)> outputRow = [&](mlir::Value sortedRow) -> mlir::Value {
    mlir::Value row = rows.outputRow(s, sortedRow);
    // Split partials are [splits, outputs, Cout]: this split group's slab.
    return intoSlab ? kb.add(s.slabBase, row) : row;
  };
  for (int i = 0; i < s.mmaRows(); ++i)
    for (int j = 0; j < s.mmaCols(); ++j)
      storeAccumulatorFragment(kb, out, epilogue, accumulators[i * s.mmaCols() + j], s.fragmentRow(s.rowBase, i),
                               s.fragmentColumn(j), s.lane, s.outputs, outputRow,
                               storeWidth(s.spec.channelAlignment));
}

class EpilogueStore : public OutputSinkPart {
public:
  void store(MainloopState &s, RowSourcePart &rows, mlir::ValueRange accumulators) override {
    EpilogueOperands epilogue(s.spec.epilogue, [&](const char *name) { return s.arguments.optional(name); });
    storeRowTiles(s, rows, accumulators, "output", epilogue, /*intoSlab=*/false);
  }
};

// fp16 partials would lose the precision the accumulator kept: the reduction adds fp32 slabs.
class SplitPartials : public OutputSinkPart {
public:
  void store(MainloopState &s, RowSourcePart &rows, mlir::ValueRange accumulators) override {
    storeRowTiles(s, rows, accumulators, "partials", EpilogueOperands(), /*intoSlab=*/true);
  }
};

// Pairs of one offset go to distinct outputs, but other offsets' tiles add to the same rows. With
// pair weights, each pair's products are scaled by its weight before they are added.
class AtomicPartials : public OutputSinkPart {
public:
  void store(MainloopState &s, RowSourcePart &, mlir::ValueRange accumulators) override {
    auto &kb = s.kb;
    OutputTensor out{s.arguments["partials"], s.outChannels, s.outChannels};
    std::function<mlir::Value(mlir::Value)> outputRow = [&](mlir::Value pair) -> mlir::Value {
      return kb.toIndex(mlir::memref::LoadOp::create(kb.b, s.arguments["pair_outputs"], mlir::ValueRange{pair}));
    };
    std::function<mlir::Value(mlir::Value)> pairWeight;
    if (s.spec.pairWeights)
      pairWeight = [&](mlir::Value pair) -> mlir::Value {
        return mlir::memref::LoadOp::create(kb.b, s.arguments["pair_weights"], mlir::ValueRange{pair});
      };
    for (int i = 0; i < s.mmaRows(); ++i)
      for (int j = 0; j < s.mmaCols(); ++j)
        accumulateFragmentAtomically(kb, out, accumulators[i * s.mmaCols() + j], s.fragmentRow(s.tileBegin, i),
                                     s.fragmentColumn(j), s.lane, s.tileEnd, outputRow, pairWeight);
  }
};

// Each pair is one tile row of one tile: dense products, no atomics.
class PairProducts : public OutputSinkPart {
public:
  void store(MainloopState &s, RowSourcePart &, mlir::ValueRange accumulators) override {
    OutputTensor out{s.arguments["products"], s.outChannels, s.outChannels};
    std::function<mlir::Value(mlir::Value)> pairRow = [](mlir::Value pair) { return pair; };
    EpilogueOperands none;
    for (int i = 0; i < s.mmaRows(); ++i)
      for (int j = 0; j < s.mmaCols(); ++j)
        storeAccumulatorFragment(s.kb, out, none, accumulators[i * s.mmaCols() + j], s.fragmentRow(s.tileBegin, i),
                                 s.fragmentColumn(j), s.lane, s.tileEnd, pairRow, storeWidth(s.spec.channelAlignment));
  }
};

// The weight gradient: tile rows are input channels (rowBase + r < Cin), and K chunk t's fp32
// partial is [Cin, Cout] slab t of `partials`; the reduction adds an offset's slabs in chunk order.
class TilePartials : public OutputSinkPart {
public:
  void store(MainloopState &s, RowSourcePart &, mlir::ValueRange accumulators) override {
    auto &kb = s.kb;
    OutputTensor out{s.arguments["partials"], s.outChannels, s.outChannels};
    mlir::Value slab = kb.mul(mlir::gpu::BlockIdOp::create(kb.b, mlir::gpu::Dimension::z), s.inChannels);
    std::function<mlir::Value(mlir::Value)> slabRow = [&](mlir::Value channel) { return kb.add(slab, channel); };
    EpilogueOperands none;
    for (int i = 0; i < s.mmaRows(); ++i)
      for (int j = 0; j < s.mmaCols(); ++j)
        storeAccumulatorFragment(kb, out, none, accumulators[i * s.mmaCols() + j], s.fragmentRow(s.rowBase, i),
                                 s.fragmentColumn(j), s.lane, s.inChannels, slabRow,
                                 storeWidth(s.spec.channelAlignment));
  }
};

} // namespace

std::unique_ptr<OutputSinkPart> tilePartials() { return std::make_unique<TilePartials>(); }
std::unique_ptr<OutputSinkPart> epilogueStore() { return std::make_unique<EpilogueStore>(); }
std::unique_ptr<OutputSinkPart> splitPartials() { return std::make_unique<SplitPartials>(); }
std::unique_ptr<OutputSinkPart> atomicPartials() { return std::make_unique<AtomicPartials>(); }
std::unique_ptr<OutputSinkPart> pairProducts() { return std::make_unique<PairProducts>(); }

} // namespace sparsekgen
