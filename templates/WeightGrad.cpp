// The weight gradient (wgrad): dW[k] = sum over the pairs (i, j) of offset k of x[i]^T dy[j], for
// every offset k. Per offset a GEMM with M = Cin, N = Cout and K = its pairs, both operands
// gathered along K: A's K row p is x[pair_inputs[p]] (its Cin channels are M, so the A tile is
// stored K x M and read by ldmatrix.trans, OperandLayouts), B's K row p is dy[pair_outputs[p]] (a
// K x N tile, as the forward's weight). Split-K: each offset's pairs come in K chunks (the runtime
// cuts ceil(pairs / splits) pairs, a multiple of CTA K, per chunk); grid x and y tile the [Cin,
// Cout] weight and grid z is the chunk. Each chunk writes its own fp32 [Cin, Cout] partial, and the
// reduction adds an offset's partials in chunk order, so two runs give the same bits (no
// floating-point atomics).
#include "CompanionKernels.h"
#include "mainloop/Mainloop.h"

namespace sparsekgen {

namespace {

class PairGradientTiles : public TileCopiesPart {
public:
  void issue(MainloopState &s, MainloopParts &parts, mlir::Value step, mlir::Value stepExists, mlir::Value stage,
             llvm::SmallVector<mlir::Value> &tokens) override {
    auto &kb = s.kb;
    const KernelSpec &spec = s.spec;
    mlir::Value firstRow = kb.mul(step, spec.cta.k); // the step's first pair, from the chunk's start
    mlir::Value zeroI32 = kb.i32(0);

    forEachTileChunk(s, spec.cta.k, spec.cta.m, [&](const TileChunk &chunk) {
      auto [exists, input] = parts.rows->gatheredRow(s, kb.add(firstRow, chunk.row), s.tileOffset, zeroI32);
      mlir::Value channel = kb.add(s.rowBase, chunk.col);
      mlir::Value valid = kb.both(stepExists, kb.both(exists, kb.lessThan(channel, s.inChannels)));
      mlir::Value source = kb.add(kb.mul(kb.toIndex(input), s.inChannels), channel);
      copyChunk(s, s.ring.a, stage, chunk, s.operandA, source, valid, tokens);
    });

    forEachTileChunk(s, spec.cta.k, spec.cta.n, [&](const TileChunk &chunk) {
      mlir::Value pair = kb.add(s.tileBegin, kb.add(firstRow, chunk.row));
      mlir::Value exists = kb.lessThan(pair, s.tileEnd);
      mlir::Value output = mlir::memref::LoadOp::create(kb.b, s.arguments["pair_outputs"],
                                                        mlir::ValueRange{kb.select(exists, pair, s.tileBegin)});
      mlir::Value column = kb.add(s.colBase, chunk.col);
      mlir::Value valid = kb.both(stepExists, kb.both(exists, kb.lessThan(column, s.outChannels)));
      mlir::Value source = kb.add(kb.mul(kb.toIndex(output), s.outChannels), column);
      copyChunk(s, s.ring.b, stage, chunk, s.arguments["output_grad"], source, valid, tokens);
    });
  }
};

std::vector<FunctionTemplate> weightGrad(const KernelSpec &spec) {
  auto parameters = pairListParameters(spec, operandBuffer(spec, "output_grad", SKG_ROLE_READ));
  return {mainloopFunction(spec, std::move(parameters), SKG_GRID_WEIGHT_TILES,
                           [] {
                             return MainloopParts{pairChunkRows(), pairChunkSteps(), tilePartials(),
                                                  std::make_unique<PairGradientTiles>()};
                           }),
          weightReductionFunction(spec)};
}

const TemplateRegistration registration(SKG_PAIR_SPLIT_K, SKG_WEIGHT_GRAD, weightGrad);

} // namespace

} // namespace sparsekgen
