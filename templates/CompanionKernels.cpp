#include "CompanionKernels.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "sparsekgen/DataflowTable.h"
#include "sparsekgen/generator/blocks/Epilogue.h"

namespace sparsekgen {

namespace {

KernelFunctionAbi companionAbi(const KernelSpec &spec, CompanionKernel kernel, skg_function_role role,
                               skg_grid_rule grid, int columnsPerThread, std::vector<KernelParameter> parameters) {
  KernelFunctionAbi abi;
  abi.name = kernelName(spec) + std::string(companionSuffix(kernel));
  abi.role = role;
  abi.grid = grid;
  abi.threadsPerBlock = kCompanionThreads;
  abi.columnsPerBlock = columnsPerThread;
  abi.parameters = std::move(parameters);
  return abi;
}

// This thread's work item: blockIdx.x * threads + threadIdx.x.
mlir::Value workItem(KernelBuilder &kb) {
  return kb.add(kb.mul(mlir::gpu::BlockIdOp::create(kb.b, mlir::gpu::Dimension::x), kCompanionThreads),
                mlir::gpu::ThreadIdOp::create(kb.b, mlir::gpu::Dimension::x));
}

// Item (pair p, channel c) of a [pairs, channels] matrix: the offset of element c of the row
// `list` names for p, in the [rows, channels] tensor on the other side.
mlir::Value listedElement(KernelBuilder &kb, mlir::Value list, mlir::Value channelsArgument, mlir::Value item) {
  mlir::Value channels = kb.toIndex(channelsArgument);
  mlir::Value pair = kb.div(item, channels), channel = kb.rem(item, channels);
  mlir::Value row = kb.toIndex(mlir::memref::LoadOp::create(kb.b, list, mlir::ValueRange{pair}));
  return kb.add(kb.mul(row, channels), channel);
}

// Runs `body` for the items below pairs x channels.
void forPairChannelItems(KernelBuilder &kb, mlir::Value pairs, mlir::Value channels,
                         const std::function<void(mlir::Value)> &body) {
  mlir::Value item = workItem(kb);
  kb.ifThen(kb.lessThan(item, kb.mul(kb.toIndex(pairs), kb.toIndex(channels))), [&] { body(item); });
}

} // namespace

FunctionTemplate reductionFunction(const KernelSpec &spec) {
  std::vector<KernelParameter> parameters = {f32Buffer("partials", SKG_ROLE_SCRATCH),
                                             outputBuffer(spec, "output", SKG_ROLE_WRITE), i32Size("outputs"),
                                             i32Size("out_channels"), i32Size("splits")};
  for (auto &parameter : epilogueParameters(spec.epilogue, bufferOf(spec.dtypes.output)))
    parameters.push_back(parameter);
  const int width = storeWidth(spec.channelAlignment);
  auto abi = companionAbi(spec, CompanionKernel::Reduce, SKG_FUNCTION_REDUCE, SKG_GRID_OUTPUT_ELEMENTS, width,
                          std::move(parameters));
  return {std::move(abi), [spec, width](KernelBuilder &kb, const KernelArguments &arguments) {
            auto &b = kb.b;
            mlir::Value partials = arguments["partials"], output = arguments["output"];
            mlir::Value outputs = kb.toIndex(arguments["outputs"]), outChannels = kb.toIndex(arguments["out_channels"]),
                        splits = kb.toIndex(arguments["splits"]);
            EpilogueOperands epilogue(spec.epilogue, [&](const char *name) { return arguments.optional(name); });
            mlir::Value thread = workItem(kb);
            mlir::Value groups = kb.ceilDiv(outChannels, width);
            mlir::Value row = kb.div(thread, groups);
            mlir::Value col = kb.mul(kb.rem(thread, groups), width);
            kb.ifThen(kb.lessThan(row, outputs), [&] {
              auto vectorType = mlir::VectorType::get({width}, b.getF32Type());
              mlir::Value zero =
                  mlir::arith::ConstantOp::create(b, vectorType, mlir::DenseElementsAttr::get(vectorType, 0.0f));
              auto loop = mlir::scf::ForOp::create(b, kb.index(0), splits, kb.index(1), mlir::ValueRange{zero});
              {
                mlir::OpBuilder::InsertionGuard guard(b);
                b.setInsertionPointToStart(loop.getBody());
                mlir::Value slabRow = kb.add(kb.mul(loop.getInductionVar(), outputs), row);
                mlir::Value offset = kb.add(kb.mul(slabRow, outChannels), col);
                mlir::Value partial = mlir::vector::LoadOp::create(b, vectorType, partials, mlir::ValueRange{offset},
                                                                   /*nontemporal=*/false, llvm::MaybeAlign(4 * width));
                mlir::scf::YieldOp::create(
                    b, mlir::ValueRange{mlir::arith::AddFOp::create(b, loop.getRegionIterArgs()[0], partial)});
              }
              storeWithEpilogue(kb, OutputTensor{output, outChannels, outChannels}, epilogue, loop.getResult(0), row,
                                col);
            });
          }};
}

FunctionTemplate weightReductionFunction(const KernelSpec &spec) {
  auto abi = companionAbi(spec, CompanionKernel::Reduce, SKG_FUNCTION_REDUCE, SKG_GRID_WEIGHT_ELEMENTS, 1,
                          {f32Buffer("partials", SKG_ROLE_SCRATCH), i32Buffer("tile_first", SKG_ROLE_SCRATCH),
                           f32Buffer("weight_grad", SKG_ROLE_WRITE), i32Size("kernel_volume"),
                           i32Size("in_channels"), i32Size("out_channels")});
  return {std::move(abi), [](KernelBuilder &kb, const KernelArguments &arguments) {
            auto &b = kb.b;
            mlir::Value slabElements =
                kb.mul(kb.toIndex(arguments["in_channels"]), kb.toIndex(arguments["out_channels"]));
            mlir::Value item = workItem(kb);
            kb.ifThen(kb.lessThan(item, kb.mul(kb.toIndex(arguments["kernel_volume"]), slabElements)), [&] {
              mlir::Value offset = kb.div(item, slabElements), element = kb.rem(item, slabElements);
              auto tileFirst = [&](mlir::Value k) {
                return kb.toIndex(mlir::memref::LoadOp::create(b, arguments["tile_first"], mlir::ValueRange{k}));
              };
              mlir::Value zero = mlir::arith::ConstantOp::create(b, b.getF32FloatAttr(0.0f));
              auto loop = mlir::scf::ForOp::create(b, tileFirst(offset), tileFirst(kb.add(offset, 1)), kb.index(1),
                                                   mlir::ValueRange{zero});
              {
                mlir::OpBuilder::InsertionGuard guard(b);
                b.setInsertionPointToStart(loop.getBody());
                mlir::Value at = kb.add(kb.mul(loop.getInductionVar(), slabElements), element);
                mlir::Value partial = mlir::memref::LoadOp::create(b, arguments["partials"], mlir::ValueRange{at});
                mlir::scf::YieldOp::create(
                    b, mlir::ValueRange{mlir::arith::AddFOp::create(b, loop.getRegionIterArgs()[0], partial)});
              }
              mlir::memref::StoreOp::create(b, loop.getResult(0), arguments["weight_grad"], mlir::ValueRange{item});
            });
          }};
}

FunctionTemplate gatherFunction(const KernelSpec &spec) {
  auto abi = companionAbi(spec, CompanionKernel::Gather, SKG_FUNCTION_GATHER, SKG_GRID_PAIR_INPUT_ELEMENTS, 1,
                          {operandBuffer(spec, "input", SKG_ROLE_READ), i32Buffer("pair_inputs", SKG_ROLE_READ),
                           operandBuffer(spec, "gathered", SKG_ROLE_SCRATCH), i32Size("pairs"), i32Size("in_channels")});
  return {std::move(abi), [](KernelBuilder &kb, const KernelArguments &arguments) {
            forPairChannelItems(kb, arguments["pairs"], arguments["in_channels"], [&](mlir::Value item) {
              mlir::Value value = mlir::memref::LoadOp::create(
                  kb.b, arguments["input"],
                  mlir::ValueRange{listedElement(kb, arguments["pair_inputs"], arguments["in_channels"], item)});
              mlir::memref::StoreOp::create(kb.b, value, arguments["gathered"], mlir::ValueRange{item});
            });
          }};
}

FunctionTemplate scatterFunction(const KernelSpec &spec) {
  std::vector<KernelParameter> parameters = {f32Buffer("products", SKG_ROLE_SCRATCH),
                                             i32Buffer("pair_outputs", SKG_ROLE_READ),
                                             f32Buffer("partials", SKG_ROLE_SCRATCH), i32Size("pairs"),
                                             i32Size("out_channels")};
  if (spec.pairWeights)
    parameters.push_back(pairWeightsParameter());
  auto abi = companionAbi(spec, CompanionKernel::Scatter, SKG_FUNCTION_SCATTER, SKG_GRID_PAIR_OUTPUT_ELEMENTS, 1,
                          std::move(parameters));
  return {std::move(abi), [weighted = spec.pairWeights](KernelBuilder &kb, const KernelArguments &arguments) {
            forPairChannelItems(kb, arguments["pairs"], arguments["out_channels"], [&](mlir::Value item) {
              mlir::Value target = listedElement(kb, arguments["pair_outputs"], arguments["out_channels"], item);
              mlir::Value value = mlir::memref::LoadOp::create(kb.b, arguments["products"], mlir::ValueRange{item});
              if (weighted) { // the pair's weight scales its product
                mlir::Value pair = kb.div(item, kb.toIndex(arguments["out_channels"]));
                mlir::Value weight = mlir::memref::LoadOp::create(kb.b, arguments["pair_weights"], mlir::ValueRange{pair});
                value = mlir::arith::MulFOp::create(kb.b, value, weight);
              }
              mlir::memref::AtomicRMWOp::create(kb.b, mlir::arith::AtomicRMWKind::addf, value, arguments["partials"],
                                                mlir::ValueRange{target});
            });
          }};
}

} // namespace sparsekgen
