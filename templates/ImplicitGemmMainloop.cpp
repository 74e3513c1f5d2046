#include "ImplicitGemmMainloop.h"

#include <map>

#include <fmt/format.h>

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "sparsekgen/generator/KernelBuilder.h"
#include "sparsekgen/generator/SharedRing.h"
#include "sparsekgen/generator/blocks/Epilogue.h"
#include "sparsekgen/generator/blocks/GatheredAsyncCopy.h"
#include "sparsekgen/generator/blocks/PipelineRing.h"
#include "sparsekgen/generator/blocks/WarpMma.h"

namespace sparsekgen {

namespace {

mlir::Type elementType(mlir::MLIRContext *context, DataType type) {
  switch (type) {
  case DataType::F16:
    return mlir::Float16Type::get(context);
  case DataType::BF16:
    return mlir::BFloat16Type::get(context);
  case DataType::F32:
    return mlir::Float32Type::get(context);
  }
  return {};
}

std::string abiTypeOf(mlir::Type type) {
  if (auto memref = mlir::dyn_cast<mlir::MemRefType>(type)) {
    auto element = memref.getElementType();
    if (element.isF16())
      return "f16*";
    if (element.isBF16())
      return "bf16*";
    if (element.isF32())
      return "f32*";
    return "i32*";
  }
  return "i32";
}

struct Parameter {
  std::string name;
  mlir::Type type;
};

bool masked(ImplicitGemmVariant variant) {
  return variant == ImplicitGemmVariant::Sorted || variant == ImplicitGemmVariant::Split;
}
// Variants whose CTAs take a tile of one offset's pairs (described by tile arrays) instead of rows.
bool pairTiled(ImplicitGemmVariant variant) {
  return variant == ImplicitGemmVariant::FetchOnDemand || variant == ImplicitGemmVariant::GroupedGemm;
}
bool fetchOnDemand(ImplicitGemmVariant variant) { return variant == ImplicitGemmVariant::FetchOnDemand; }
// Variants whose main kernel leaves fp32 partial sums for the reduction kernel.
bool reduced(ImplicitGemmVariant variant) {
  return variant == ImplicitGemmVariant::Split || pairTiled(variant);
}

std::vector<Parameter> mainParameters(mlir::MLIRContext *context, const KernelSpec &spec, ImplicitGemmVariant variant) {
  mlir::Builder b(context);
  auto operand = KernelBuilder::globalBufferType(elementType(context, spec.dtypes.input));
  auto output = KernelBuilder::globalBufferType(elementType(context, spec.dtypes.output));
  auto i32Buffer = KernelBuilder::globalBufferType(b.getI32Type());
  auto i32 = b.getI32Type();
  if (variant == ImplicitGemmVariant::GroupedGemm)
    return {{"gathered", operand},
            {"weight", operand},
            {"tile_offsets", i32Buffer},
            {"tile_begins", i32Buffer},
            {"tile_ends", i32Buffer},
            {"products", KernelBuilder::globalBufferType(b.getF32Type())},
            {"in_channels", i32},
            {"out_channels", i32}};
  if (fetchOnDemand(variant))
    return {{"input", operand},
            {"weight", operand},
            {"pair_inputs", i32Buffer},
            {"pair_outputs", i32Buffer},
            {"tile_offsets", i32Buffer},
            {"tile_begins", i32Buffer},
            {"tile_ends", i32Buffer},
            {"partials", KernelBuilder::globalBufferType(b.getF32Type())},
            {"in_channels", i32},
            {"out_channels", i32}};
  bool split = variant == ImplicitGemmVariant::Split;
  std::vector<Parameter> parameters = {{"input", operand},
                                       {"weight", operand},
                                       {"out_in_map", i32Buffer},
                                       {split ? "partials" : "output",
                                        split ? KernelBuilder::globalBufferType(b.getF32Type()) : output},
                                       {"outputs", i32},
                                       {"in_channels", i32},
                                       {"out_channels", i32},
                                       {"kernel_volume", i32}};
  if (masked(variant)) {
    parameters.push_back({"permutation", i32Buffer});
    parameters.push_back({"tile_masks", i32Buffer});
    parameters.push_back({"mask_words", i32});
  }
  if (split)
    parameters.push_back({"splits", i32});
  else
    for (auto &[name, type] : epilogueParameters(spec.epilogue, output))
      parameters.push_back({name, type});
  return parameters;
}

std::vector<Parameter> reductionParameters(mlir::MLIRContext *context, const KernelSpec &spec) {
  mlir::Builder b(context);
  auto output = KernelBuilder::globalBufferType(elementType(context, spec.dtypes.output));
  std::vector<Parameter> parameters = {{"partials", KernelBuilder::globalBufferType(b.getF32Type())},
                                       {"output", output},
                                       {"outputs", b.getI32Type()},
                                       {"out_channels", b.getI32Type()},
                                       {"splits", b.getI32Type()}};
  for (auto &[name, type] : epilogueParameters(spec.epilogue, output))
    parameters.push_back({name, type});
  return parameters;
}

std::vector<std::pair<std::string, std::string>> abiOf(const std::vector<Parameter> &parameters) {
  std::vector<std::pair<std::string, std::string>> abi;
  for (const auto &p : parameters)
    abi.push_back({p.name, abiTypeOf(p.type)});
  return abi;
}

// Columns stored together: 2 when Cout is even (alignment >= 2), else 1.
int storeWidth(const KernelSpec &spec) { return spec.channelAlignment >= 2 ? 2 : 1; }

mlir::gpu::GPUFuncOp createKernel(mlir::ImplicitLocOpBuilder &b, mlir::ModuleOp module, const std::string &name,
                                  const std::vector<Parameter> &parameters, int threads) {
  mlir::gpu::GPUModuleOp gpuModule;
  module.walk([&](mlir::gpu::GPUModuleOp found) { gpuModule = found; });
  if (!gpuModule) {
    b.setInsertionPointToEnd(module.getBody());
    gpuModule = mlir::gpu::GPUModuleOp::create(b, name + "_module");
  }
  b.setInsertionPointToEnd(gpuModule.getBody());
  llvm::SmallVector<mlir::Type> types;
  for (const auto &p : parameters)
    types.push_back(p.type);
  auto func = mlir::gpu::GPUFuncOp::create(b, name, b.getFunctionType(types, {}));
  func->setAttr(mlir::gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({threads, 1, 1}));
  b.setInsertionPointToStart(&func.getBody().front());
  return func;
}

std::map<std::string, mlir::Value> argumentsByName(mlir::gpu::GPUFuncOp func, const std::vector<Parameter> &parameters) {
  std::map<std::string, mlir::Value> arguments;
  for (size_t i = 0; i < parameters.size(); ++i)
    arguments[parameters[i].name] = func.getArgument(i);
  return arguments;
}

class MainloopBuilder {
public:
  // Kernel arguments are bound by their ABI names (mainParameters), so no variant depends on
  // argument positions; a variant without a parameter leaves its value null.
  MainloopBuilder(KernelBuilder &kb, const KernelSpec &spec, ImplicitGemmVariant variant,
                  const std::map<std::string, mlir::Value> &arguments)
      : kb(kb), spec(spec), variant(variant), layout(sharedRingLayout(spec)) {
    auto named = [&](std::initializer_list<const char *> names) -> mlir::Value {
      for (const char *name : names)
        if (auto it = arguments.find(name); it != arguments.end())
          return it->second;
      return {};
    };
    auto index = [&](const char *name) {
      mlir::Value value = named({name});
      return value ? kb.toIndex(value) : mlir::Value();
    };
    input = named({"input", "gathered"});
    weight = named({"weight"});
    outInMap = named({"out_in_map"});
    output = named({"output", "partials", "products"});
    outputs = index("outputs");
    inChannels = index("in_channels");
    outChannels = index("out_channels");
    kernelVolume = index("kernel_volume");
    permutation = named({"permutation"});
    tileMasks = named({"tile_masks"});
    maskWords = index("mask_words");
    splits = index("splits");
    pairInputs = named({"pair_inputs"});
    pairOutputs = named({"pair_outputs"});
    tileOffsets = named({"tile_offsets"});
    tileBegins = named({"tile_begins"});
    tileEnds = named({"tile_ends"});
    epilogue = EpilogueOperands{spec.epilogue, named({"bias"}), named({"scale"}), named({"shift"}),
                                named({"residual"})};
  }

  void build() {
    auto &b = kb.b;
    threads = spec.threadCount();
    async = isAsyncCopy(spec.channelAlignment, elementBytes(spec.dtypes.input));
    thread = mlir::gpu::ThreadIdOp::create(b, mlir::gpu::Dimension::x);
    lane = kb.rem(thread, 32);
    mlir::Value warp = kb.div(thread, 32);
    int warpsN = spec.cta.n / spec.warp.n;
    warpRow = kb.mul(kb.div(warp, warpsN), spec.warp.m);
    warpCol = kb.mul(kb.rem(warp, warpsN), spec.warp.n);
    rowBase = kb.mul(mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::x), spec.cta.m); // unused by fetch-on-demand
    colBase = kb.mul(mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::y), spec.cta.n);
    split = variant == ImplicitGemmVariant::Split ? mlir::Value(mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::z))
                                                  : kb.index(0);
    permutationBase = pairTiled(variant) ? kb.index(0) : kb.mul(split, outputs);
    channelSteps = kb.ceilDiv(inChannels, spec.cta.k);
    auto operand = mlir::cast<mlir::MemRefType>(input.getType()).getElementType();
    ring = buildSharedRing(kb, layout, operand);
    if (pairTiled(variant)) {
      // One offset per tile: the K loop covers its input channels only.
      mlir::Value tile = mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::x);
      auto load = [&](mlir::Value buffer) { return kb.toIndex(mlir::memref::LoadOp::create(b, buffer, mlir::ValueRange{tile})); };
      tileOffset = load(tileOffsets);
      tileBegin = load(tileBegins);
      tileEnd = load(tileEnds);
      kSteps = channelSteps;
    } else if (masked(variant)) {
      buildActiveOffsetList();
      kSteps = kb.mul(activeOffsets, channelSteps);
    } else {
      kSteps = kb.mul(kernelVolume, channelSteps);
    }
    runPipeline();
  }

private:
  int mmaRows() const { return spec.warp.m / kMmaM; }
  int mmaCols() const { return spec.warp.n / kMmaN; }
  int accumulatorCount() const { return mmaRows() * mmaCols(); }

  // Thread 0 lists the offsets of this CTA's split group whose bit is set in the tile's OR-reduced
  // mask; the K loop visits only those, so a tile skips every offset none of its rows uses.
  void buildActiveOffsetList() {
    auto &b = kb.b;
    auto listType = mlir::MemRefType::get({layout.offsetListEntries}, b.getI32Type(),
                                          mlir::MemRefLayoutAttrInterface{},
                                          KernelBuilder::workgroupSpace(b.getContext()));
    mlir::Value shared = mlir::cast<mlir::memref::ViewOp>(ring.a.getDefiningOp()).getSource();
    offsetList = mlir::memref::ViewOp::create(b, listType, shared, kb.index(layout.ringBytes()), mlir::ValueRange{});
    mlir::Value countSlot = kb.index(layout.offsetListEntries - 1);
    mlir::Value first = kb.index(0), last = kernelVolume;
    if (variant == ImplicitGemmVariant::Split) {
      mlir::Value width = kb.div(kb.sub(kb.add(kernelVolume, splits), kb.index(1)), splits);
      first = kb.mul(split, width);
      last = mlir::arith::MinUIOp::create(b, kb.add(first, width), kernelVolume);
      last = mlir::arith::MaxUIOp::create(b, last, first);
    }
    mlir::Value tiles = mlir::gpu::GridDimOp::create(b, mlir::gpu::Dimension::x);
    mlir::Value tile = mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::x);
    mlir::Value maskBase = kb.mul(kb.add(kb.mul(split, tiles), tile), maskWords);
    kb.ifThen(mlir::arith::CmpIOp::create(b, mlir::arith::CmpIPredicate::eq, thread, kb.index(0)), [&] {
      auto loop = mlir::scf::ForOp::create(b, first, last, kb.index(1), mlir::ValueRange{kb.index(0)});
      {
        mlir::OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(loop.getBody());
        mlir::Value k = loop.getInductionVar(), count = loop.getRegionIterArgs()[0];
        mlir::Value relative = kb.sub(k, first);
        mlir::Value word = mlir::memref::LoadOp::create(b, tileMasks, mlir::ValueRange{kb.add(maskBase, kb.div(relative, 32))});
        mlir::Value shift = mlir::arith::IndexCastOp::create(b, b.getI32Type(), kb.rem(relative, 32));
        mlir::Value bit = mlir::arith::AndIOp::create(b, mlir::arith::ShRUIOp::create(b, word, shift), kb.i32(1));
        mlir::Value set = mlir::arith::CmpIOp::create(b, mlir::arith::CmpIPredicate::ne, bit, kb.i32(0));
        kb.ifThen(set, [&] {
          mlir::Value value = mlir::arith::IndexCastOp::create(b, b.getI32Type(), k);
          mlir::memref::StoreOp::create(b, value, offsetList, mlir::ValueRange{count});
        });
        mlir::scf::YieldOp::create(b, mlir::ValueRange{kb.add(count, kb.toIndex(bit))});
      }
      mlir::Value total = mlir::arith::IndexCastOp::create(b, b.getI32Type(), loop.getResult(0));
      mlir::memref::StoreOp::create(b, total, offsetList, mlir::ValueRange{countSlot});
    });
    mlir::gpu::BarrierOp::create(b);
    activeOffsets = kb.toIndex(mlir::memref::LoadOp::create(b, offsetList, mlir::ValueRange{countSlot}));
  }

  // The row of the map (and of a sorted dataflow's output) that tile row `sortedRow` stands for.
  mlir::Value mapRow(mlir::Value sortedRow) {
    if (!masked(variant))
      return sortedRow;
    return kb.toIndex(mlir::memref::LoadOp::create(kb.b, permutation, mlir::ValueRange{kb.add(permutationBase, sortedRow)}));
  }

  void runPipeline() {
    auto &b = kb.b;
    // Prologue: fill stages 0 .. S-2. Every thread commits the same number of groups whether or
    // not the tile exists, so "at most S-2 groups pending" always means "tile k has landed".
    mlir::Value group;
    for (int stage = 0; stage < spec.stages - 1; ++stage) {
      auto tokens = issueTile(kb.index(stage), kb.index(stage));
      if (async)
        group = commitAsyncGroup(kb, tokens);
    }
    llvm::SmallVector<mlir::Value> carried(accumulatorCount(), zeroAccumulator(kb));
    if (async)
      carried.push_back(group);
    auto loop = mlir::scf::ForOp::create(b, kb.index(0), kSteps, kb.index(1), carried);
    {
      mlir::OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      mlir::Value kStep = loop.getInductionVar();
      auto iterArgs = loop.getRegionIterArgs();
      if (async)
        waitAsyncGroups(kb, iterArgs.back(), spec.stages - 2);
      // After this barrier every thread has finished reading stage (k-1) % S, the one refilled next.
      mlir::gpu::BarrierOp::create(b);
      mlir::Value next = kb.add(kStep, spec.stages - 1);
      auto tokens = issueTile(next, kb.rem(next, spec.stages));
      llvm::SmallVector<mlir::Value> accumulators(iterArgs.begin(), iterArgs.begin() + accumulatorCount());
      mlir::Value nextGroup = async ? commitAsyncGroup(kb, tokens) : mlir::Value();
      computeStage(kb.rem(kStep, spec.stages), accumulators);
      if (async)
        accumulators.push_back(nextGroup);
      mlir::scf::YieldOp::create(b, accumulators);
    }
    // Copies of the tiles past the end are still in flight; let them land before the CTA exits.
    if (async)
      waitAsyncGroups(kb, loop.getResults().back(), 0);
    storeOutputs(loop.getResults().take_front(accumulatorCount()));
  }

  // Copies of one thread's share of `total` chunks: chunk = thread + i * threads. When the chunks
  // do not divide evenly, the surplus copies read nothing and land in the row padding of row 0,
  // which ldmatrix never reads.
  template <typename IssueChunk>
  void forEachChunk(int total, IssueChunk issueChunk) {
    int perThread = (total + threads - 1) / threads;
    for (int i = 0; i < perThread; ++i) {
      mlir::Value chunk = kb.add(thread, i * threads);
      mlir::Value inRange = total % threads == 0 ? mlir::Value() : kb.lessThan(chunk, kb.index(total));
      issueChunk(chunk, inRange);
    }
  }

  // Issues the copies of K-step `kStep` into ring stage `stage`; returns their tokens.
  llvm::SmallVector<mlir::Value> issueTile(mlir::Value kStep, mlir::Value stage) {
    auto &b = kb.b;
    llvm::SmallVector<mlir::Value> tokens;
    auto keep = [&](std::optional<mlir::Value> token) {
      if (token)
        tokens.push_back(*token);
    };
    // Steps past the end still issue (zero-filling) copies so group counts stay uniform; their
    // addresses are computed from a real step so no index leaves its tensor.
    mlir::Value stepExists = kb.lessThan(kStep, kSteps);
    mlir::Value lastStep = mlir::arith::MaxSIOp::create(b, kb.sub(kSteps, kb.index(1)), kb.index(0));
    mlir::Value step = kb.select(stepExists, kStep, lastStep);
    mlir::Value slot = kb.div(step, channelSteps);
    mlir::Value offset = pairTiled(variant) ? tileOffset : slot;
    if (masked(variant)) {
      mlir::Value listed = kb.toIndex(mlir::memref::LoadOp::create(b, offsetList, mlir::ValueRange{slot}));
      offset = kb.select(stepExists, listed, kb.index(0)); // the list is empty when no step exists
    }
    mlir::Value channelBase = kb.mul(kb.rem(step, channelSteps), spec.cta.k);
    mlir::Value zeroI32 = kb.i32(0);
    const int elements = spec.channelAlignment;

    int aChunksPerRow = spec.cta.k / elements;
    forEachChunk(spec.cta.m * aChunksPerRow, [&](mlir::Value chunk, mlir::Value inRange) {
      mlir::Value tileRow = kb.div(chunk, aChunksPerRow);
      mlir::Value tileCol = kb.mul(kb.rem(chunk, aChunksPerRow), elements);
      auto [hasNeighbour, neighbour] = gatheredRow(tileRow, offset, zeroI32);
      mlir::Value channel = kb.add(channelBase, tileCol);
      mlir::Value valid = kb.both(stepExists, kb.both(hasNeighbour, kb.lessThan(channel, inChannels)));
      mlir::Value source = kb.add(kb.mul(kb.toIndex(neighbour), inChannels), channel);
      auto [dstRow, dstCol] = destination(tileRow, tileCol, inRange, spec.cta.k, valid);
      keep(gatheredCopy(kb, ring.a, {stage, dstRow, dstCol}, input, source, valid, elements));
    });

    int bChunksPerRow = spec.cta.n / elements;
    forEachChunk(spec.cta.k * bChunksPerRow, [&](mlir::Value chunk, mlir::Value inRange) {
      mlir::Value tileRow = kb.div(chunk, bChunksPerRow);
      mlir::Value tileCol = kb.mul(kb.rem(chunk, bChunksPerRow), elements);
      mlir::Value channel = kb.add(channelBase, tileRow);
      mlir::Value column = kb.add(colBase, tileCol);
      mlir::Value valid = kb.both(stepExists, kb.both(kb.lessThan(channel, inChannels), kb.lessThan(column, outChannels)));
      // W is [volume, Cin, Cout]: row (offset * Cin + channel), column `column`.
      mlir::Value source = kb.add(kb.mul(kb.add(kb.mul(offset, inChannels), channel), outChannels), column);
      auto [dstRow, dstCol] = destination(tileRow, tileCol, inRange, spec.cta.n, valid);
      keep(gatheredCopy(kb, ring.b, {stage, dstRow, dstCol}, weight, source, valid, elements));
    });
    return tokens;
  }

  // Whether tile row `tileRow` reads an input row at `offset`, and which: through out_in_map for the
  // implicit GEMMs, through the offset's pair list for fetch-on-demand.
  std::pair<mlir::Value, mlir::Value> gatheredRow(mlir::Value tileRow, mlir::Value offset, mlir::Value zeroI32) {
    auto &b = kb.b;
    if (pairTiled(variant)) {
      mlir::Value pair = kb.add(tileBegin, tileRow);
      mlir::Value exists = kb.lessThan(pair, tileEnd);
      if (!fetchOnDemand(variant)) // the gathered matrix holds the pairs' rows in pair order
        return {exists, mlir::arith::IndexCastOp::create(b, b.getI32Type(), pair)};
      mlir::Value input = mlir::memref::LoadOp::create(b, pairInputs, mlir::ValueRange{kb.select(exists, pair, tileBegin)});
      return {exists, input};
    }
    mlir::Value row = kb.add(rowBase, tileRow);
    mlir::Value rowExists = kb.lessThan(row, outputs);
    mlir::Value mapIndex = kb.add(kb.mul(mapRow(kb.select(rowExists, row, kb.index(0))), kernelVolume), offset);
    mlir::Value neighbour = mlir::memref::LoadOp::create(b, outInMap, mlir::ValueRange{mapIndex});
    mlir::Value hasNeighbour = mlir::arith::CmpIOp::create(b, mlir::arith::CmpIPredicate::sge, neighbour, zeroI32);
    return {kb.both(rowExists, hasNeighbour), neighbour};
  }

  // Surplus chunks (inRange false) are redirected to the padding of row 0 and copy nothing.
  std::pair<mlir::Value, mlir::Value> destination(mlir::Value row, mlir::Value col, mlir::Value inRange,
                                                  int paddingColumn, mlir::Value &valid) {
    if (!inRange)
      return {row, col};
    valid = kb.both(valid, inRange);
    return {kb.select(inRange, row, kb.index(0)), kb.select(inRange, col, kb.index(paddingColumn))};
  }

  void computeStage(mlir::Value stage, llvm::SmallVector<mlir::Value> &accumulators) {
    accumulateStage(kb, spec.math, ring.a, ring.b, stage, spec.cta.k, warpRow, warpCol, mmaRows(), mmaCols(), lane,
                    accumulators);
  }

  void storeOutputs(mlir::ValueRange accumulators) {
    OutputTensor out{output, outChannels, outChannels};
    if (variant == ImplicitGemmVariant::GroupedGemm) {
      // Each pair is one tile row of one tile: dense products, no atomics.
      std::function<mlir::Value(mlir::Value)> pairRow = [](mlir::Value pair) { return pair; };
      EpilogueOperands none;
      for (int i = 0; i < mmaRows(); ++i)
        for (int j = 0; j < mmaCols(); ++j)
          storeAccumulatorFragment(kb, out, none, accumulators[i * mmaCols() + j],
                                   kb.add(tileBegin, kb.add(warpRow, i * kMmaM)),
                                   kb.add(colBase, kb.add(warpCol, j * kMmaN)), lane, tileEnd, pairRow, storeWidth(spec));
      return;
    }
    if (fetchOnDemand(variant)) {
      // Pairs of one offset go to distinct outputs, but other offsets' tiles add to the same rows.
      std::function<mlir::Value(mlir::Value)> outputRow = [&](mlir::Value pair) -> mlir::Value {
        return kb.toIndex(mlir::memref::LoadOp::create(kb.b, pairOutputs, mlir::ValueRange{pair}));
      };
      for (int i = 0; i < mmaRows(); ++i)
        for (int j = 0; j < mmaCols(); ++j)
          accumulateFragmentAtomically(kb, out, accumulators[i * mmaCols() + j],
                                       kb.add(tileBegin, kb.add(warpRow, i * kMmaM)),
                                       kb.add(colBase, kb.add(warpCol, j * kMmaN)), lane, tileEnd, outputRow);
      return;
    }
    std::function<mlir::Value(mlir::Value)> outputRow = [&](mlir::Value sortedRow) -> mlir::Value {
      mlir::Value row = mapRow(sortedRow);
      // Split partials are [splits, outputs, Cout]: this split's slab.
      return variant == ImplicitGemmVariant::Split ? kb.add(permutationBase, row) : row;
    };
    EpilogueOperands none;
    const EpilogueOperands &operands = variant == ImplicitGemmVariant::Split ? none : epilogue;
    for (int i = 0; i < mmaRows(); ++i)
      for (int j = 0; j < mmaCols(); ++j)
        storeAccumulatorFragment(kb, out, operands, accumulators[i * mmaCols() + j],
                                 kb.add(rowBase, kb.add(warpRow, i * kMmaM)), kb.add(colBase, kb.add(warpCol, j * kMmaN)),
                                 lane, outputs, outputRow, storeWidth(spec));
  }

  KernelBuilder &kb;
  const KernelSpec &spec;
  ImplicitGemmVariant variant;
  SharedRingLayout layout;
  int threads = 0;
  bool async = true;
  mlir::Value input, weight, outInMap, output, outputs, inChannels, outChannels, kernelVolume;
  mlir::Value permutation, tileMasks, maskWords, splits;
  mlir::Value pairInputs, pairOutputs, tileOffsets, tileBegins, tileEnds, tileOffset, tileBegin, tileEnd;
  EpilogueOperands epilogue;
  mlir::Value thread, lane, warpRow, warpCol, rowBase, colBase, split, permutationBase, channelSteps, kSteps;
  mlir::Value offsetList, activeOffsets;
  SharedRingViews ring;
};

} // namespace

void buildImplicitGemmKernel(mlir::ModuleOp module, const KernelSpec &spec, ImplicitGemmVariant variant) {
  mlir::ImplicitLocOpBuilder b(module.getLoc(), module.getContext());
  auto parameters = mainParameters(module.getContext(), spec, variant);
  auto func = createKernel(b, module, kernelName(spec), parameters, spec.threadCount());
  KernelBuilder kb(b);
  MainloopBuilder(kb, spec, variant, argumentsByName(func, parameters)).build();
  mlir::gpu::ReturnOp::create(b);
}

void buildSplitReductionKernel(mlir::ModuleOp module, const KernelSpec &spec) {
  mlir::ImplicitLocOpBuilder b(module.getLoc(), module.getContext());
  auto parameters = reductionParameters(module.getContext(), spec);
  auto func = createKernel(b, module, kernelName(spec) + "_reduce", parameters, kReductionThreads);
  KernelBuilder kb(b);
  auto arguments = argumentsByName(func, parameters);
  auto optional = [&](const char *name) {
    auto it = arguments.find(name);
    return it == arguments.end() ? mlir::Value() : it->second;
  };
  mlir::Value partials = arguments.at("partials"), output = arguments.at("output");
  mlir::Value outputs = kb.toIndex(arguments.at("outputs")), outChannels = kb.toIndex(arguments.at("out_channels")),
              splits = kb.toIndex(arguments.at("splits"));
  EpilogueOperands epilogue{spec.epilogue, optional("bias"), optional("scale"), optional("shift"),
                            optional("residual")};

  const int width = storeWidth(spec);
  mlir::Value thread = kb.add(kb.mul(mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::x), kReductionThreads),
                              mlir::gpu::ThreadIdOp::create(b, mlir::gpu::Dimension::x));
  mlir::Value groups = kb.ceilDiv(outChannels, width);
  mlir::Value row = kb.div(thread, groups);
  mlir::Value col = kb.mul(kb.rem(thread, groups), width);
  kb.ifThen(kb.lessThan(row, outputs), [&] {
    auto vectorType = mlir::VectorType::get({width}, b.getF32Type());
    mlir::Value zero = mlir::arith::ConstantOp::create(b, vectorType, mlir::DenseElementsAttr::get(vectorType, 0.0f));
    auto loop = mlir::scf::ForOp::create(b, kb.index(0), splits, kb.index(1), mlir::ValueRange{zero});
    {
      mlir::OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      mlir::Value slabRow = kb.add(kb.mul(loop.getInductionVar(), outputs), row);
      mlir::Value offset = kb.add(kb.mul(slabRow, outChannels), col);
      mlir::Value partial = mlir::vector::LoadOp::create(b, vectorType, partials, mlir::ValueRange{offset},
                                                         /*nontemporal=*/false, llvm::MaybeAlign(4 * width));
      mlir::scf::YieldOp::create(b, mlir::ValueRange{mlir::arith::AddFOp::create(b, loop.getRegionIterArgs()[0], partial)});
    }
    storeWithEpilogue(kb, OutputTensor{output, outChannels, outChannels}, epilogue, loop.getResult(0), row, col);
  });
  mlir::gpu::ReturnOp::create(b);
}

namespace {

// A kernel of kReductionThreads threads per block over `elements` work items; `body` gets the item.
void elementwiseKernel(mlir::ModuleOp module, const std::string &name, const std::vector<Parameter> &parameters,
                       const std::function<mlir::Value(KernelBuilder &, mlir::gpu::GPUFuncOp)> &elements,
                       const std::function<void(KernelBuilder &, mlir::gpu::GPUFuncOp, mlir::Value)> &body) {
  mlir::ImplicitLocOpBuilder b(module.getLoc(), module.getContext());
  auto func = createKernel(b, module, name, parameters, kReductionThreads);
  KernelBuilder kb(b);
  mlir::Value item = kb.add(kb.mul(mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::x), kReductionThreads),
                            mlir::gpu::ThreadIdOp::create(b, mlir::gpu::Dimension::x));
  kb.ifThen(kb.lessThan(item, elements(kb, func)), [&] { body(kb, func, item); });
  mlir::gpu::ReturnOp::create(b);
}

std::vector<Parameter> gatherParameters(mlir::MLIRContext *context, const KernelSpec &spec) {
  mlir::Builder b(context);
  auto operand = KernelBuilder::globalBufferType(elementType(context, spec.dtypes.input));
  auto i32Buffer = KernelBuilder::globalBufferType(b.getI32Type());
  return {{"input", operand}, {"pair_inputs", i32Buffer}, {"gathered", operand}, {"pairs", b.getI32Type()},
          {"in_channels", b.getI32Type()}};
}

std::vector<Parameter> scatterParameters(mlir::MLIRContext *context, const KernelSpec &) {
  mlir::Builder b(context);
  auto f32Buffer = KernelBuilder::globalBufferType(b.getF32Type());
  auto i32Buffer = KernelBuilder::globalBufferType(b.getI32Type());
  return {{"products", f32Buffer}, {"pair_outputs", i32Buffer}, {"partials", f32Buffer}, {"pairs", b.getI32Type()},
          {"out_channels", b.getI32Type()}};
}

// Items = arg(pairsArgument) x arg(channelsArgument).
std::function<mlir::Value(KernelBuilder &, mlir::gpu::GPUFuncOp)> pairChannelItems(unsigned pairs, unsigned channels) {
  return [=](KernelBuilder &kb, mlir::gpu::GPUFuncOp func) {
    return kb.mul(kb.toIndex(func.getArgument(pairs)), kb.toIndex(func.getArgument(channels)));
  };
}

} // namespace

namespace {
// Item (pair p, channel c) of a [pairs, channels] matrix: the offset of element c of the row the
// pair list (argument 1) names for p, in the [rows, channels] tensor on the other side.
mlir::Value listedElement(KernelBuilder &kb, mlir::gpu::GPUFuncOp func, mlir::Value item) {
  mlir::Value channels = kb.toIndex(func.getArgument(4));
  mlir::Value pair = kb.div(item, channels), channel = kb.rem(item, channels);
  mlir::Value row = kb.toIndex(mlir::memref::LoadOp::create(kb.b, func.getArgument(1), mlir::ValueRange{pair}));
  return kb.add(kb.mul(row, channels), channel);
}
} // namespace

void buildGatherKernel(mlir::ModuleOp module, const KernelSpec &spec) {
  // gathered[p][c] = input[pair_inputs[p]][c]
  elementwiseKernel(module, kernelName(spec) + "_gather", gatherParameters(module.getContext(), spec),
                    pairChannelItems(3, 4), [](KernelBuilder &kb, mlir::gpu::GPUFuncOp func, mlir::Value item) {
                      mlir::Value value = mlir::memref::LoadOp::create(kb.b, func.getArgument(0),
                                                                       mlir::ValueRange{listedElement(kb, func, item)});
                      mlir::memref::StoreOp::create(kb.b, value, func.getArgument(2), mlir::ValueRange{item});
                    });
}

void buildScatterKernel(mlir::ModuleOp module, const KernelSpec &spec) {
  // partials[pair_outputs[p]][c] += products[p][c]
  elementwiseKernel(module, kernelName(spec) + "_scatter", scatterParameters(module.getContext(), spec),
                    pairChannelItems(3, 4), [](KernelBuilder &kb, mlir::gpu::GPUFuncOp func, mlir::Value item) {
                      mlir::Value target = listedElement(kb, func, item);
                      mlir::Value value = mlir::memref::LoadOp::create(kb.b, func.getArgument(0), mlir::ValueRange{item});
                      mlir::memref::AtomicRMWOp::create(kb.b, mlir::arith::AtomicRMWKind::addf, value,
                                                        func.getArgument(2), mlir::ValueRange{target});
                    });
}

LaunchAbi implicitGemmLaunchAbi(const KernelSpec &spec, ImplicitGemmVariant variant) {
  static const char *names[] = {"implicit_gemm_forward.v2", "implicit_gemm_sorted_forward.v2",
                                "implicit_gemm_split_forward.v2", "fetch_on_demand_forward.v2",
                                "gather_gemm_scatter_forward.v2"};
  // The parameter list is derived from the kernel's MLIR signature, so the two cannot disagree.
  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  context.loadDialect<mlir::gpu::GPUDialect>();
  LaunchAbi abi;
  abi.name = names[static_cast<int>(variant)];
  abi.parameters = abiOf(mainParameters(&context, spec, variant));
  abi.threadsPerBlock = spec.threadCount();
  abi.sharedMemoryBytes = sharedRingLayout(spec).totalBytes();
  abi.rowsPerBlock = spec.cta.m;
  abi.columnsPerBlock = spec.cta.n;
  if (reduced(variant)) {
    abi.companionKernel = kernelName(spec) + "_reduce";
    abi.companionParameters = abiOf(reductionParameters(&context, spec));
    abi.companionThreadsPerBlock = kReductionThreads;
  }
  if (variant == ImplicitGemmVariant::GroupedGemm) {
    abi.auxiliaryKernels = {{kernelName(spec) + "_gather", abiOf(gatherParameters(&context, spec))},
                            {kernelName(spec) + "_scatter", abiOf(scatterParameters(&context, spec))}};
  }
  return abi;
}

} // namespace sparsekgen
