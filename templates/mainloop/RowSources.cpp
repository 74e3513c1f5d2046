// Where a CTA's tile rows come from: output rows in order or through a sort permutation (A rows
// through out_in_map), or a tile of one offset's pairs (A rows through the pair list, or the rows of
// a gathered matrix in pair order).
#include "Mainloop.h"

namespace sparsekgen {

namespace {

// Output row tiles: row = rowBase + tileRow, reading out_in_map[outputRow(row)][offset].
class NaturalRows : public RowSourcePart {
public:
  std::pair<mlir::Value, mlir::Value> gatheredRow(MainloopState &s, mlir::Value tileRow, mlir::Value offset,
                                                  mlir::Value zeroI32) override {
    auto &kb = s.kb;
    mlir::Value row = kb.add(s.rowBase, tileRow);
    mlir::Value rowExists = kb.lessThan(row, s.outputs);
    mlir::Value mapIndex =
        kb.add(kb.mul(outputRow(s, kb.select(rowExists, row, kb.index(0))), s.kernelVolume), offset);
    mlir::Value neighbour = mlir::memref::LoadOp::create(kb.b, s.arguments["out_in_map"], mlir::ValueRange{mapIndex});
    mlir::Value hasNeighbour =
        mlir::arith::CmpIOp::create(kb.b, mlir::arith::CmpIPredicate::sge, neighbour, zeroI32);
    return {kb.both(rowExists, hasNeighbour), neighbour};
  }
};

// The split group's sort permutation orders rows by their offset bitmask, so a CTA's rows share offsets.
class PermutedRows : public NaturalRows {
public:
  mlir::Value outputRow(MainloopState &s, mlir::Value sortedRow) override {
    return s.kb.toIndex(mlir::memref::LoadOp::create(s.kb.b, s.arguments["permutation"],
                                                     mlir::ValueRange{s.kb.add(s.slabBase, sortedRow)}));
  }
};

// A tile of one offset's pairs [tile_begins[t], tile_ends[t]) (t = blockIdx.x, or blockIdx.z for
// the weight gradient's K chunks, whose grid x and y cover the weight).
class PairTileRows : public RowSourcePart {
public:
  explicit PairTileRows(mlir::gpu::Dimension tileDimension = mlir::gpu::Dimension::x) : tileDimension_(tileDimension) {}
  mlir::Value slabBase(MainloopState &s) override { return s.kb.index(0); }
  void prepare(MainloopState &s) override {
    auto &kb = s.kb;
    mlir::Value tile = mlir::gpu::BlockIdOp::create(kb.b, tileDimension_);
    auto load = [&](const char *buffer) {
      return kb.toIndex(mlir::memref::LoadOp::create(kb.b, s.arguments[buffer], mlir::ValueRange{tile}));
    };
    s.tileOffset = load("tile_offsets");
    s.tileBegin = load("tile_begins");
    s.tileEnd = load("tile_ends");
  }

protected:
  // Tile row `tileRow`'s pair and whether it exists (the tile's last rows may lie past its end).
  static std::pair<mlir::Value, mlir::Value> pairOf(MainloopState &s, mlir::Value tileRow) {
    mlir::Value pair = s.kb.add(s.tileBegin, tileRow);
    return {pair, s.kb.lessThan(pair, s.tileEnd)};
  }

private:
  mlir::gpu::Dimension tileDimension_;
};

// Fetch-on-demand: the pair's input row, through pair_inputs. The weight gradient's K rows are
// pairs too: tile row r of its K chunk is pair tile_begins[t] + r.
class PairListRows : public PairTileRows {
public:
  using PairTileRows::PairTileRows;
  std::pair<mlir::Value, mlir::Value> gatheredRow(MainloopState &s, mlir::Value tileRow, mlir::Value,
                                                  mlir::Value) override {
    auto &kb = s.kb;
    auto [pair, exists] = pairOf(s, tileRow);
    mlir::Value input = mlir::memref::LoadOp::create(kb.b, s.arguments["pair_inputs"],
                                                     mlir::ValueRange{kb.select(exists, pair, s.tileBegin)});
    return {exists, input};
  }
};

// Gather-GEMM-scatter: the gathered matrix holds the pairs' rows in pair order.
class GatheredPairRows : public PairTileRows {
public:
  std::pair<mlir::Value, mlir::Value> gatheredRow(MainloopState &s, mlir::Value tileRow, mlir::Value,
                                                  mlir::Value) override {
    auto [pair, exists] = pairOf(s, tileRow);
    return {exists, mlir::arith::IndexCastOp::create(s.kb.b, s.kb.b.getI32Type(), pair)};
  }
};

} // namespace

std::unique_ptr<RowSourcePart> naturalRows() { return std::make_unique<NaturalRows>(); }
std::unique_ptr<RowSourcePart> permutedRows() { return std::make_unique<PermutedRows>(); }
std::unique_ptr<RowSourcePart> pairListRows() { return std::make_unique<PairListRows>(); }
std::unique_ptr<RowSourcePart> gatheredPairRows() { return std::make_unique<GatheredPairRows>(); }
std::unique_ptr<RowSourcePart> pairChunkRows() { return std::make_unique<PairListRows>(mlir::gpu::Dimension::z); }

} // namespace sparsekgen
