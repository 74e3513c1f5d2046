#include "Mainloop.h"

#include <optional>

#include "mlir/Dialect/SCF/IR/SCF.h"

#include "sparsekgen/generator/blocks/GatheredAsyncCopy.h"
#include "sparsekgen/generator/blocks/WarpMma.h"
#include "sparsekgen/generator/blocks/WarpgroupMma.h"

namespace sparsekgen {

MainloopState::MainloopState(KernelBuilder &kb, const KernelSpec &spec, const KernelArguments &arguments)
    : kb(kb), spec(spec), arguments(arguments), layout(sharedRingLayout(spec)) {
  auto index = [&](const char *name) {
    mlir::Value value = arguments.optional(name);
    return value ? kb.toIndex(value) : mlir::Value();
  };
  operandA = arguments.optional("input") ? arguments["input"] : arguments["gathered"];
  weight = arguments.optional("weight");
  outputs = index("outputs");
  inChannels = index("in_channels");
  outChannels = index("out_channels");
  kernelVolume = index("kernel_volume");
  maskWords = index("mask_words");
  splits = index("splits");
}

int MainloopState::mmaRows() const { return spec.warp.m / kMmaM; }
int MainloopState::mmaCols() const { return spec.warp.n / kMmaN; }
mlir::Value MainloopState::fragmentRow(mlir::Value first, int i) { return kb.add(first, kb.add(warpRow, i * kMmaM)); }
mlir::Value MainloopState::fragmentColumn(int j) { return kb.add(colBase, kb.add(warpCol, j * kMmaN)); }

mlir::Value RowSourcePart::slabBase(MainloopState &state) { return state.kb.mul(state.splitGroup, state.outputs); }
mlir::Value OffsetSchedulePart::splitGroup(MainloopState &state) { return state.kb.index(0); }

namespace {

// The pipeline around the parts: a prologue filling L stages, then per K step a wait, a barrier,
// the copies of step k + L and the MMAs of step k. Warp MMAs are done when the next iteration's
// barrier passes, so L = S - 1 stages load ahead. A warpgroup MMA is still reading its stage then
// (each waits only for the one before it), so it keeps L = S - 2: the copies after the barrier of
// step k refill the stage of step k - 2, whose MMAs every warpgroup has waited for.
class Mainloop {
public:
  Mainloop(MainloopState &state, MainloopParts &parts) : s(state), kb(state.kb), spec(state.spec), parts(parts) {}

  void build() {
    auto &b = kb.b;
    s.threads = spec.threadCount();
    s.async = isAsyncCopy(spec.channelAlignment, elementBytes(spec.dtypes.input));
    s.thread = mlir::gpu::ThreadIdOp::create(b, mlir::gpu::Dimension::x);
    s.lane = kb.rem(s.thread, 32);
    mlir::Value warp = kb.div(s.thread, 32);
    int warpsN = spec.cta.n / spec.warp.n;
    s.warpRow = kb.mul(kb.div(warp, warpsN), spec.warp.m);
    s.warpCol = kb.mul(kb.rem(warp, warpsN), spec.warp.n);
    s.rowBase = kb.mul(mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::x), spec.cta.m); // row tiles only
    s.colBase = kb.mul(mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::y), spec.cta.n);
    s.splitGroup = parts.offsets->splitGroup(s);
    s.slabBase = parts.rows->slabBase(s);
    s.channelSteps = kb.ceilDiv(s.inChannels, spec.cta.k);
    auto operand = mlir::cast<mlir::MemRefType>(s.operandA.getType()).getElementType();
    s.ring = buildSharedRing(kb, s.layout, operand);
    if (spec.tmaWeights())
      s.tma = createTmaWeightTiles(kb, s.arguments["weight_map"], spec.stages, s.thread, operand);
    parts.rows->prepare(s);
    kSteps = parts.offsets->steps(s);
    runPipeline();
  }

private:
  int accumulatorCount() const { return s.mmaRows() * s.mmaCols(); }
  bool warpgroup() const { return spec.warpgroupMma(); }
  // Loop-carried accumulator values: the warp's m16n8 fragments, or one warpgroup accumulator.
  int carriedAccumulators() const { return warpgroup() ? 1 : accumulatorCount(); }
  int lookahead() const { return warpgroup() ? spec.stages - 2 : spec.stages - 1; }

  void runPipeline() {
    auto &b = kb.b;
    // Prologue: fill stages 0 .. L-1. Every thread commits the same number of groups whether or
    // not the tile exists, so "at most L-1 groups pending" always means "tile k has landed".
    mlir::Value group;
    for (int stage = 0; stage < lookahead(); ++stage) {
      auto tokens = issueTile(kb.index(stage), kb.index(stage));
      if (s.async)
        group = commitAsyncGroup(kb, tokens);
    }
    llvm::SmallVector<mlir::Value> carried;
    if (warpgroup())
      carried.push_back(zeroWarpgroupAccumulator(kb, spec.cta.n));
    else
      carried.assign(accumulatorCount(), zeroAccumulator(kb));
    if (s.async)
      carried.push_back(group);
    auto loop = mlir::scf::ForOp::create(b, kb.index(0), kSteps, kb.index(1), carried);
    {
      mlir::OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      mlir::Value kStep = loop.getInductionVar();
      auto iterArgs = loop.getRegionIterArgs();
      if (s.async)
        waitAsyncGroups(kb, iterArgs.back(), lookahead() - 1);
      if (s.tma)
        waitTmaWeightTile(kb, *s.tma, kStep);
      if (warpgroup()) // the landed copies, visible to the tensor cores' reads
        fenceSharedForWarpgroupMma(kb);
      // After this barrier every thread has finished reading stage (k + L) % S, the one refilled next.
      mlir::gpu::BarrierOp::create(b);
      mlir::Value next = kb.add(kStep, lookahead());
      auto tokens = issueTile(next, kb.rem(next, spec.stages));
      llvm::SmallVector<mlir::Value> accumulators(iterArgs.begin(), iterArgs.begin() + carriedAccumulators());
      mlir::Value nextGroup = s.async ? commitAsyncGroup(kb, tokens) : mlir::Value();
      computeStage(kb.rem(kStep, spec.stages), accumulators);
      if (s.async)
        accumulators.push_back(nextGroup);
      mlir::scf::YieldOp::create(b, accumulators);
    }
    // Copies of the tiles past the end are still in flight; let them land before the CTA exits.
    if (s.async)
      waitAsyncGroups(kb, loop.getResults().back(), 0);
    if (warpgroup()) {
      waitAllWarpgroupMma(kb);
      parts.sink->store(s, *parts.rows, warpgroupFragments(kb, loop.getResults().front(), spec.cta.n));
      return;
    }
    parts.sink->store(s, *parts.rows, loop.getResults().take_front(accumulatorCount()));
  }

  // Issues the copies of K-step `kStep` into ring stage `stage`; returns their tokens. Steps past
  // the end still issue (zero-filling) copies so group counts stay uniform; their addresses are
  // computed from a real step so no index leaves its tensor.
  llvm::SmallVector<mlir::Value> issueTile(mlir::Value kStep, mlir::Value stage) {
    mlir::Value stepExists = kb.lessThan(kStep, kSteps);
    mlir::Value lastStep = mlir::arith::MaxSIOp::create(kb.b, kb.sub(kSteps, kb.index(1)), kb.index(0));
    mlir::Value step = kb.select(stepExists, kStep, lastStep);
    llvm::SmallVector<mlir::Value> tokens;
    parts.copies->issue(s, parts, step, stepExists, stage, tokens);
    return tokens;
  }

  void computeStage(mlir::Value stage, llvm::SmallVector<mlir::Value> &accumulators) {
    if (warpgroup()) {
      mlir::Value warpgroupRow = kb.mul(kb.div(s.thread, kWarpgroupThreads), kWarpgroupM);
      accumulators.front() = warpgroupMmaStage(kb, s.ring.a, s.ring.b, stage, warpgroupRow, spec.cta.n,
                                               accumulators.front());
      return;
    }
    accumulateStage(kb, spec.math, s.layout.operands, s.ring.a, s.ring.b, stage, spec.cta.k, s.warpRow, s.warpCol,
                    s.mmaRows(), s.mmaCols(), s.lane, accumulators);
  }

  MainloopState &s;
  KernelBuilder &kb;
  const KernelSpec &spec;
  MainloopParts &parts;
  mlir::Value kSteps;
};

} // namespace

void forEachTileChunk(MainloopState &s, int rows, int columns, const std::function<void(const TileChunk &)> &copy) {
  auto &kb = s.kb;
  const int elements = s.spec.channelAlignment, chunksPerRow = columns / elements, total = rows * chunksPerRow;
  const int perThread = (total + s.threads - 1) / s.threads;
  for (int i = 0; i < perThread; ++i) {
    mlir::Value chunk = kb.add(s.thread, i * s.threads);
    TileChunk c;
    c.inRange = total % s.threads == 0 ? mlir::Value() : kb.lessThan(chunk, kb.index(total));
    c.row = kb.div(chunk, chunksPerRow);
    c.col = kb.mul(kb.rem(chunk, chunksPerRow), elements);
    c.paddingColumn = columns;
    copy(c);
  }
}

void copyChunk(MainloopState &s, mlir::Value ring, mlir::Value stage, const TileChunk &chunk, mlir::Value source,
               mlir::Value sourceOffset, mlir::Value valid, llvm::SmallVector<mlir::Value> &tokens) {
  auto &kb = s.kb;
  mlir::Value row = chunk.row, col = chunk.col;
  if (chunk.inRange) { // a surplus chunk lands in the padding of row 0 and copies nothing
    valid = kb.both(valid, chunk.inRange);
    row = kb.select(chunk.inRange, row, kb.index(0));
    col = kb.select(chunk.inRange, col, kb.index(chunk.paddingColumn));
  }
  llvm::SmallVector<mlir::Value> destination = {stage, row, col};
  if (s.layout.swizzled128) // warpgroup MMA's swizzled tiles (no padding: the chunks divide evenly)
    destination = swizzledChunkIndices(kb, ring == s.ring.b, stage, row, col);
  if (auto token = gatheredCopy(kb, ring, destination, source, sourceOffset, valid, s.spec.channelAlignment))
    tokens.push_back(*token);
}

namespace {

// Forward and input-gradient tiles: a K step covers one kernel offset and CTA-K channels of it. A
// rows are gathered through the row source; B is the offset's weight, W[k] = [Cin, Cout]. The input
// gradient is the forward on the transposed map with the transposed weight: its K runs over the
// layer's Cout and its N over the layer's Cin, so B(k, n) = W[offset][n][k], copied K-contiguous
// into an N x K tile (OperandLayouts).
class ConvolutionTiles : public TileCopiesPart {
public:
  void issue(MainloopState &s, MainloopParts &parts, mlir::Value step, mlir::Value stepExists, mlir::Value stage,
             llvm::SmallVector<mlir::Value> &tokens) override {
    auto &kb = s.kb;
    const KernelSpec &spec = s.spec;
    mlir::Value slot = kb.div(step, s.channelSteps);
    mlir::Value offset = parts.offsets->offsetOf(s, slot, stepExists);
    mlir::Value channelBase = kb.mul(kb.rem(step, s.channelSteps), spec.cta.k);
    mlir::Value zeroI32 = kb.i32(0);

    forEachTileChunk(s, spec.cta.m, spec.cta.k, [&](const TileChunk &chunk) {
      auto [hasNeighbour, neighbour] = parts.rows->gatheredRow(s, chunk.row, offset, zeroI32);
      mlir::Value channel = kb.add(channelBase, chunk.col);
      mlir::Value valid = kb.both(stepExists, kb.both(hasNeighbour, kb.lessThan(channel, s.inChannels)));
      mlir::Value source = kb.add(kb.mul(kb.toIndex(neighbour), s.inChannels), channel);
      copyChunk(s, s.ring.a, stage, chunk, s.operandA, source, valid, tokens);
    });

    if (s.tma) { // thread 0 copies the whole B tile
      issueTmaWeightTile(kb, *s.tma, s.ring.b, stage, s.colBase, channelBase, offset, spec.cta.n,
                         kb.both(stepExists, kb.equal(s.thread, kb.index(0))));
      return;
    }
    // The weight chunk at (K channel kIndex, N column nIndex) of the tile. W is [volume, Cin,
    // Cout]; forward: row (offset * K + channel), column n; transposed: row (offset * N + n),
    // column channel.
    const bool transposed = s.layout.operands.bTransposed();
    auto weightChunk = [&](const TileChunk &chunk, mlir::Value kIndex, mlir::Value nIndex) {
      mlir::Value channel = kb.add(channelBase, kIndex);
      mlir::Value column = kb.add(s.colBase, nIndex);
      mlir::Value valid =
          kb.both(stepExists, kb.both(kb.lessThan(channel, s.inChannels), kb.lessThan(column, s.outChannels)));
      mlir::Value source =
          transposed ? kb.add(kb.mul(kb.add(kb.mul(offset, s.outChannels), column), s.inChannels), channel)
                     : kb.add(kb.mul(kb.add(kb.mul(offset, s.inChannels), channel), s.outChannels), column);
      copyChunk(s, s.ring.b, stage, chunk, s.weight, source, valid, tokens);
    };
    if (transposed) // rows are N, chunks run along K
      forEachTileChunk(s, spec.cta.n, spec.cta.k, [&](const TileChunk &c) { weightChunk(c, c.col, c.row); });
    else // rows are K, chunks run along N
      forEachTileChunk(s, spec.cta.k, spec.cta.n, [&](const TileChunk &c) { weightChunk(c, c.row, c.col); });
  }
};

} // namespace

std::unique_ptr<TileCopiesPart> convolutionTiles() { return std::make_unique<ConvolutionTiles>(); }

std::vector<KernelParameter> outputTileParameters(const KernelSpec &spec, KernelParameter destination) {
  std::vector<KernelParameter> parameters = {
      operandBuffer(spec, "input", SKG_ROLE_READ), operandBuffer(spec, "weight", SKG_ROLE_READ),
      i32Buffer("out_in_map", SKG_ROLE_READ),      std::move(destination),
      i32Size("outputs"),                          i32Size("in_channels"),
      i32Size("out_channels"),                     i32Size("kernel_volume")};
  if (spec.tmaWeights())
    parameters.push_back(tensorMapParameter("weight_map"));
  return parameters;
}

std::vector<KernelParameter> sortInputParameters() {
  return {i32Buffer("permutation", SKG_ROLE_READ), i32Buffer("tile_masks", SKG_ROLE_READ), i32Size("mask_words")};
}

std::vector<KernelParameter> pairTileParameters() {
  return {i32Buffer("tile_offsets", SKG_ROLE_SCRATCH), i32Buffer("tile_begins", SKG_ROLE_SCRATCH),
          i32Buffer("tile_ends", SKG_ROLE_SCRATCH)};
}

std::vector<KernelParameter> pairListParameters(const KernelSpec &spec, KernelParameter second) {
  std::vector<KernelParameter> parameters = {operandBuffer(spec, "input", SKG_ROLE_READ), std::move(second),
                                             i32Buffer("pair_inputs", SKG_ROLE_READ),
                                             i32Buffer("pair_outputs", SKG_ROLE_READ)};
  for (auto &parameter : pairTileParameters())
    parameters.push_back(parameter);
  for (auto &parameter : {f32Buffer("partials", SKG_ROLE_SCRATCH), i32Size("in_channels"), i32Size("out_channels")})
    parameters.push_back(parameter);
  return parameters;
}

FunctionTemplate mainloopFunction(const KernelSpec &spec, std::vector<KernelParameter> parameters,
                                  skg_grid_rule grid, std::function<MainloopParts()> makeParts) {
  KernelFunctionAbi abi;
  abi.name = kernelName(spec);
  abi.role = SKG_FUNCTION_MAIN;
  abi.grid = grid;
  abi.threadsPerBlock = spec.threadCount();
  abi.sharedMemoryBytes = sharedRingLayout(spec).totalBytes();
  abi.rowsPerBlock = spec.cta.m;
  abi.columnsPerBlock = spec.cta.n;
  abi.parameters = std::move(parameters);
  return {std::move(abi), [spec, makeParts](KernelBuilder &kb, const KernelArguments &arguments) {
            MainloopParts parts = makeParts();
            if (!parts.copies)
              parts.copies = convolutionTiles();
            MainloopState state(kb, spec, arguments);
            Mainloop(state, parts).build();
          }};
}

} // namespace sparsekgen
