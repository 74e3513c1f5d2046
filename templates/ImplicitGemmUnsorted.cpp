// Implicit GEMM, forward, unsorted: out[j] = sum_k in[out_in_map[j][k]] * W[k].
// GEMM view: M = outputs, N = Cout, K = kernel volume x Cin. A K-step of the CTA covers one kernel
// offset and CTA-K input channels; its A rows are gathered through out_in_map with zero-filling
// cp.async, so the gathered matrix never exists in global memory.
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "sparsekgen/generator/KernelBuilder.h"
#include "sparsekgen/generator/SharedRing.h"
#include "sparsekgen/generator/blocks/Epilogue.h"
#include "sparsekgen/generator/blocks/GatheredAsyncCopy.h"
#include "sparsekgen/generator/blocks/PipelineRing.h"
#include "sparsekgen/generator/blocks/WarpMma.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

namespace {

constexpr int kElementsPerCopy = kAsyncCopyBytes / 2; // fp16

struct Arguments {
  mlir::Value input, weight, outInMap, output;
  mlir::Value outputs, inChannels, outChannels, kernelVolume; // index
};

class ImplicitGemmUnsortedBuilder {
public:
  ImplicitGemmUnsortedBuilder(KernelBuilder &kb, const KernelSpec &spec, const Arguments &args)
      : kb(kb), spec(spec), args(args), layout(sharedRingLayout(spec)) {}

  void build() {
    auto &b = kb.b;
    threads = spec.threadCount();
    thread = mlir::gpu::ThreadIdOp::create(b, mlir::gpu::Dimension::x);
    lane = kb.rem(thread, 32);
    mlir::Value warp = kb.div(thread, 32);
    int warpsN = spec.cta.n / spec.warp.n;
    warpRow = kb.mul(kb.div(warp, warpsN), spec.warp.m);
    warpCol = kb.mul(kb.rem(warp, warpsN), spec.warp.n);
    rowBase = kb.mul(mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::x), spec.cta.m);
    colBase = kb.mul(mlir::gpu::BlockIdOp::create(b, mlir::gpu::Dimension::y), spec.cta.n);
    channelSteps = kb.ceilDiv(args.inChannels, spec.cta.k);
    kSteps = kb.mul(args.kernelVolume, channelSteps);
    ring = buildSharedRing(kb, layout, b.getF16Type());

    // Prologue: fill stages 0 .. S-2. Every thread commits the same number of groups whether or
    // not the tile exists, so "at most S-2 groups pending" always means "tile k has landed".
    mlir::Value group;
    for (int stage = 0; stage < spec.stages - 1; ++stage)
      group = commitAsyncGroup(kb, issueTile(kb.index(stage), kb.index(stage)));

    llvm::SmallVector<mlir::Value> carried(accumulatorCount(), zeroAccumulator(kb));
    carried.push_back(group);
    auto loop = mlir::scf::ForOp::create(b, kb.index(0), kSteps, kb.index(1), carried);
    {
      mlir::OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      mlir::Value kStep = loop.getInductionVar();
      auto iterArgs = loop.getRegionIterArgs();
      waitAsyncGroups(kb, iterArgs.back(), spec.stages - 2);
      // After this barrier every thread has finished reading stage (k-1) % S, the one refilled next.
      mlir::gpu::BarrierOp::create(b);
      mlir::Value next = kb.add(kStep, spec.stages - 1);
      mlir::Value nextGroup = commitAsyncGroup(kb, issueTile(next, kb.rem(next, spec.stages)));
      llvm::SmallVector<mlir::Value> accumulators(iterArgs.begin(), iterArgs.end() - 1);
      computeStage(kb.rem(kStep, spec.stages), accumulators);
      accumulators.push_back(nextGroup);
      mlir::scf::YieldOp::create(b, accumulators);
    }
    // Copies of the tiles past the end are still in flight; let them land before the CTA exits.
    waitAsyncGroups(kb, loop.getResults().back(), 0);
    storeOutputs(loop.getResults().drop_back());
  }

private:
  int mmaRows() const { return spec.warp.m / kMmaM; }
  int mmaCols() const { return spec.warp.n / kMmaN; }
  int accumulatorCount() const { return mmaRows() * mmaCols(); }

  // Copies of one thread's share of `total` 16-byte chunks: chunk = thread + i * threads. When the
  // chunks do not divide evenly, the surplus copies read nothing and land in the row padding of
  // row 0, which ldmatrix never reads.
  template <typename IssueChunk>
  void forEachChunk(int total, IssueChunk issueChunk) {
    int perThread = (total + threads - 1) / threads;
    for (int i = 0; i < perThread; ++i) {
      mlir::Value chunk = kb.add(thread, i * threads);
      mlir::Value inRange = total % threads == 0 ? mlir::Value() : kb.lessThan(chunk, kb.index(total));
      issueChunk(chunk, inRange);
    }
  }

  // Issues the cp.async copies of K-step `kStep` into ring stage `stage`; returns their tokens.
  llvm::SmallVector<mlir::Value> issueTile(mlir::Value kStep, mlir::Value stage) {
    auto &b = kb.b;
    llvm::SmallVector<mlir::Value> tokens;
    // Steps past the end still issue (zero-filling) copies so group counts stay uniform; their
    // addresses are computed from the last real step so no index leaves its tensor.
    mlir::Value stepExists = kb.lessThan(kStep, kSteps);
    mlir::Value lastStep = mlir::arith::MaxSIOp::create(b, kb.sub(kSteps, kb.index(1)), kb.index(0));
    mlir::Value step = kb.select(stepExists, kStep, lastStep);
    mlir::Value offset = kb.div(step, channelSteps);
    mlir::Value channelBase = kb.mul(kb.rem(step, channelSteps), spec.cta.k);
    mlir::Value zeroI32 = kb.i32(0);

    int aChunksPerRow = spec.cta.k / kElementsPerCopy;
    forEachChunk(spec.cta.m * aChunksPerRow, [&](mlir::Value chunk, mlir::Value inRange) {
      mlir::Value tileRow = kb.div(chunk, aChunksPerRow);
      mlir::Value tileCol = kb.mul(kb.rem(chunk, aChunksPerRow), kElementsPerCopy);
      mlir::Value row = kb.add(rowBase, tileRow);
      mlir::Value rowExists = kb.lessThan(row, args.outputs);
      mlir::Value mapIndex = kb.add(kb.mul(kb.select(rowExists, row, kb.index(0)), args.kernelVolume), offset);
      mlir::Value neighbour = mlir::memref::LoadOp::create(b, args.outInMap, mlir::ValueRange{mapIndex});
      mlir::Value hasNeighbour = mlir::arith::CmpIOp::create(b, mlir::arith::CmpIPredicate::sge, neighbour, zeroI32);
      mlir::Value channel = kb.add(channelBase, tileCol);
      mlir::Value valid = kb.both(kb.both(stepExists, rowExists), kb.both(hasNeighbour, kb.lessThan(channel, args.inChannels)));
      mlir::Value source = kb.add(kb.mul(kb.toIndex(neighbour), args.inChannels), channel);
      auto [dstRow, dstCol] = destination(tileRow, tileCol, inRange, spec.cta.k, valid);
      tokens.push_back(gatheredAsyncCopy(kb, ring.a, {stage, dstRow, dstCol}, args.input, source, valid,
                                         kElementsPerCopy));
    });

    int bChunksPerRow = spec.cta.n / kElementsPerCopy;
    forEachChunk(spec.cta.k * bChunksPerRow, [&](mlir::Value chunk, mlir::Value inRange) {
      mlir::Value tileRow = kb.div(chunk, bChunksPerRow);
      mlir::Value tileCol = kb.mul(kb.rem(chunk, bChunksPerRow), kElementsPerCopy);
      mlir::Value channel = kb.add(channelBase, tileRow);
      mlir::Value column = kb.add(colBase, tileCol);
      mlir::Value valid = kb.both(stepExists, kb.both(kb.lessThan(channel, args.inChannels),
                                                      kb.lessThan(column, args.outChannels)));
      // W is [volume, Cin, Cout]: row (offset * Cin + channel), column `column`.
      mlir::Value source =
          kb.add(kb.mul(kb.add(kb.mul(offset, args.inChannels), channel), args.outChannels), column);
      auto [dstRow, dstCol] = destination(tileRow, tileCol, inRange, spec.cta.n, valid);
      tokens.push_back(gatheredAsyncCopy(kb, ring.b, {stage, dstRow, dstCol}, args.weight, source, valid,
                                         kElementsPerCopy));
    });
    return tokens;
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
    for (int kk = 0; kk < spec.cta.k; kk += kMmaK) {
      mlir::Value k0 = kb.index(kk);
      llvm::SmallVector<mlir::Value> a;
      for (int i = 0; i < mmaRows(); ++i)
        a.push_back(loadAFragment(kb, ring.a, stage, kb.add(warpRow, i * kMmaM), k0, lane));
      llvm::SmallVector<mlir::Value> bFragments;
      for (int j = 0; j < spec.warp.n / 16; ++j) {
        auto pair = loadBFragmentPair(kb, ring.b, stage, k0, kb.add(warpCol, j * 16), lane);
        bFragments.append(pair.begin(), pair.end());
      }
      for (int i = 0; i < mmaRows(); ++i)
        for (int j = 0; j < mmaCols(); ++j) {
          mlir::Value &acc = accumulators[i * mmaCols() + j];
          acc = mmaSync(kb, a[i], bFragments[j], acc);
        }
    }
  }

  void storeOutputs(mlir::ValueRange accumulators) {
    OutputTensor out{args.output, args.outputs, args.outChannels, args.outChannels, kb.b.getF16Type()};
    for (int i = 0; i < mmaRows(); ++i)
      for (int j = 0; j < mmaCols(); ++j)
        storeAccumulatorFragment(kb, out, accumulators[i * mmaCols() + j], kb.add(rowBase, kb.add(warpRow, i * kMmaM)),
                                 kb.add(colBase, kb.add(warpCol, j * kMmaN)), lane);
  }

  KernelBuilder &kb;
  const KernelSpec &spec;
  Arguments args;
  SharedRingLayout layout;
  int threads = 0;
  mlir::Value thread, lane, warpRow, warpCol, rowBase, colBase, channelSteps, kSteps;
  SharedRingViews ring;
};

} // namespace

LaunchAbi implicitGemmForwardAbi(const KernelSpec &spec) {
  LaunchAbi abi;
  abi.name = "implicit_gemm_forward.v1";
  abi.parameters = {{"input", "f16*"},        {"weight", "f16*"},      {"out_in_map", "i32*"},
                    {"output", "f16*"},       {"outputs", "i32"},      {"in_channels", "i32"},
                    {"out_channels", "i32"},  {"kernel_volume", "i32"}};
  abi.threadsPerBlock = spec.threadCount();
  abi.sharedMemoryBytes = sharedRingLayout(spec).totalBytes();
  abi.rowsPerBlock = spec.cta.m;
  abi.columnsPerBlock = spec.cta.n;
  return abi;
}

void buildImplicitGemmUnsorted(mlir::ModuleOp module, const KernelSpec &spec) {
  auto *context = module.getContext();
  std::string name = kernelName(spec);
  mlir::ImplicitLocOpBuilder b(module.getLoc(), context);
  b.setInsertionPointToEnd(module.getBody());
  auto gpuModule = mlir::gpu::GPUModuleOp::create(b, name + "_module");
  b.setInsertionPointToStart(gpuModule.getBody());

  auto f16Buffer = KernelBuilder::globalBufferType(b.getF16Type());
  auto i32Buffer = KernelBuilder::globalBufferType(b.getI32Type());
  auto i32 = b.getI32Type();
  auto type = b.getFunctionType({f16Buffer, f16Buffer, i32Buffer, f16Buffer, i32, i32, i32, i32}, {});
  auto func = mlir::gpu::GPUFuncOp::create(b, name, type);
  func->setAttr(mlir::gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({spec.threadCount(), 1, 1}));

  b.setInsertionPointToStart(&func.getBody().front());
  KernelBuilder kb(b);
  auto arg = [&](unsigned i) { return func.getArgument(i); };
  Arguments args{arg(0), arg(1), arg(2), arg(3), kb.toIndex(arg(4)), kb.toIndex(arg(5)), kb.toIndex(arg(6)),
                 kb.toIndex(arg(7))};
  ImplicitGemmUnsortedBuilder(kb, spec, args).build();
  mlir::gpu::ReturnOp::create(b);
}

} // namespace sparsekgen
