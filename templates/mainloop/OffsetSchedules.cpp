// Which kernel offsets a tile's K loop visits: all of them, those its OR-reduced mask holds (of
// its split group), or the one offset of its pairs.
#include "Mainloop.h"

namespace sparsekgen {

namespace {

class AllOffsets : public OffsetSchedulePart {
public:
  mlir::Value steps(MainloopState &s) override { return s.kb.mul(s.kernelVolume, s.channelSteps); }
  mlir::Value offsetOf(MainloopState &, mlir::Value slot, mlir::Value) override { return slot; }
};

// Thread 0 lists the offsets of this CTA's split group whose bit is set in the tile's OR-reduced
// mask; the K loop visits only those, so a tile skips every offset none of its rows uses. The list
// lives in shared memory after the ring (SharedRingLayout::offsetListEntries).
class MaskedOffsets : public OffsetSchedulePart {
public:
  explicit MaskedOffsets(bool splitGroups) : splitGroups_(splitGroups) {}

  mlir::Value splitGroup(MainloopState &s) override {
    return splitGroups_ ? mlir::Value(mlir::gpu::BlockIdOp::create(s.kb.b, mlir::gpu::Dimension::z)) : s.kb.index(0);
  }

  mlir::Value steps(MainloopState &s) override {
    auto &kb = s.kb;
    auto &b = kb.b;
    auto listType = mlir::MemRefType::get({s.layout.offsetListEntries}, b.getI32Type(),
                                          mlir::MemRefLayoutAttrInterface{},
                                          KernelBuilder::workgroupSpace(b.getContext()));
    mlir::Value shared = mlir::cast<mlir::memref::ViewOp>(s.ring.a.getDefiningOp()).getSource();
    list_ = mlir::memref::ViewOp::create(b, listType, shared, kb.index(s.layout.offsetListByte()), mlir::ValueRange{});
    mlir::Value countSlot = kb.index(s.layout.offsetListEntries - 1);
    mlir::Value first = kb.index(0), last = s.kernelVolume;
    if (splitGroups_) {
      mlir::Value width = kb.div(kb.sub(kb.add(s.kernelVolume, s.splits), kb.index(1)), s.splits);
      first = kb.mul(s.splitGroup, width);
      last = mlir::arith::MinUIOp::create(b, kb.add(first, width), s.kernelVolume);
      last = mlir::arith::MaxUIOp::create(b, last, first);
    }
    mlir::Value tiles = mlir::gpu::GridDimOp::create(b, mlir::gpu::Dimension::x);
    mlir::Value tile = mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::x);
    mlir::Value maskBase = kb.mul(kb.add(kb.mul(s.splitGroup, tiles), tile), s.maskWords);
    mlir::Value tileMasks = s.arguments["tile_masks"];
    kb.ifThen(mlir::arith::CmpIOp::create(b, mlir::arith::CmpIPredicate::eq, s.thread, kb.index(0)), [&] {
      auto loop = mlir::scf::ForOp::create(b, first, last, kb.index(1), mlir::ValueRange{kb.index(0)});
      {
        mlir::OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(loop.getBody());
        mlir::Value k = loop.getInductionVar(), count = loop.getRegionIterArgs()[0];
        mlir::Value relative = kb.sub(k, first);
        mlir::Value word =
            mlir::memref::LoadOp::create(b, tileMasks, mlir::ValueRange{kb.add(maskBase, kb.div(relative, 32))});
        mlir::Value shift = mlir::arith::IndexCastOp::create(b, b.getI32Type(), kb.rem(relative, 32));
        mlir::Value bit = mlir::arith::AndIOp::create(b, mlir::arith::ShRUIOp::create(b, word, shift), kb.i32(1));
        mlir::Value set = mlir::arith::CmpIOp::create(b, mlir::arith::CmpIPredicate::ne, bit, kb.i32(0));
        kb.ifThen(set, [&] {
          mlir::Value value = mlir::arith::IndexCastOp::create(b, b.getI32Type(), k);
          mlir::memref::StoreOp::create(b, value, list_, mlir::ValueRange{count});
        });
        mlir::scf::YieldOp::create(b, mlir::ValueRange{kb.add(count, kb.toIndex(bit))});
      }
      mlir::Value total = mlir::arith::IndexCastOp::create(b, b.getI32Type(), loop.getResult(0));
      mlir::memref::StoreOp::create(b, total, list_, mlir::ValueRange{countSlot});
    });
    mlir::gpu::BarrierOp::create(b);
    mlir::Value activeOffsets = kb.toIndex(mlir::memref::LoadOp::create(b, list_, mlir::ValueRange{countSlot}));
    return kb.mul(activeOffsets, s.channelSteps);
  }

  mlir::Value offsetOf(MainloopState &s, mlir::Value slot, mlir::Value stepExists) override {
    mlir::Value listed = s.kb.toIndex(mlir::memref::LoadOp::create(s.kb.b, list_, mlir::ValueRange{slot}));
    return s.kb.select(stepExists, listed, s.kb.index(0)); // the list is empty when no step exists
  }

private:
  bool splitGroups_;
  mlir::Value list_;
};

// One offset per tile: the K loop covers its input channels only.
class OnePerTile : public OffsetSchedulePart {
public:
  mlir::Value steps(MainloopState &s) override { return s.channelSteps; }
  mlir::Value offsetOf(MainloopState &s, mlir::Value, mlir::Value) override { return s.tileOffset; }
};

// The weight gradient's K chunk: one offset, ceil(pairs of the chunk / CTA K) steps.
class PairChunkSteps : public OffsetSchedulePart {
public:
  mlir::Value steps(MainloopState &s) override { return s.kb.ceilDiv(s.kb.sub(s.tileEnd, s.tileBegin), s.spec.cta.k); }
  mlir::Value offsetOf(MainloopState &s, mlir::Value, mlir::Value) override { return s.tileOffset; }
};

} // namespace

std::unique_ptr<OffsetSchedulePart> pairChunkSteps() { return std::make_unique<PairChunkSteps>(); }
std::unique_ptr<OffsetSchedulePart> allOffsets() { return std::make_unique<AllOffsets>(); }
std::unique_ptr<OffsetSchedulePart> maskedOffsets(bool splitGroups) { return std::make_unique<MaskedOffsets>(splitGroups); }
std::unique_ptr<OffsetSchedulePart> onePerTile() { return std::make_unique<OnePerTile>(); }

} // namespace sparsekgen
