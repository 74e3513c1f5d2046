// sparsekgen._cpu: the kernel-map builders and the float64 reference convolution (forward, input
// gradient, weight gradient) of the runtime's CPU part, for the Python package's CPU path. Tensors
// cross as DLPack arrays (torch CPU tensors or numpy arrays); results come back as numpy arrays
// that own their memory. Nothing here links CUDA, so the package imports on machines without a GPU.
#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/array.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>

#include "Arrays.h"
#include "ExceptionTranslation.h"
#include "NetworkBindings.h"
#include "sparsekgen/Version.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/Graph.h"
#include "sparsekgen/KernelMap.h"
#include "sparsekgen/Reference.h"

namespace nb = nanobind;
using namespace sparsekgen;
using python::CoordinateRows;
using python::coordinatesOf;
using python::ownedArray;

namespace {

using Axes = std::array<int, 3>;
using MapRows = nb::ndarray<const int32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Matrix = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using Weights = nb::ndarray<const double, nb::ndim<3>, nb::c_contig, nb::device::cpu>;

nb::ndarray<nb::numpy, int32_t> coordinateArray(const std::vector<Coordinate> &coordinates) {
  std::vector<int32_t> flat;
  flat.reserve(coordinates.size() * 4);
  for (const auto &c : coordinates)
    flat.insert(flat.end(), {c.batch, c.x, c.y, c.z});
  return ownedArray(std::move(flat), std::array<size_t, 2>{coordinates.size(), 4});
}

ConvGeometry geometryOf(const Axes &kernelSize, const Axes &stride, const Axes &dilation) {
  ConvGeometry geometry{kernelSize, stride, dilation};
  kernelOffsets(geometry); // refuses sizes, strides or dilations below 1
  return geometry;
}

// The map an out_in_map array describes, checked so the reference never reads outside its input.
KernelMap mapOf(const MapRows &outInMap, long long inputCount, const char *what) {
  if (inputCount < 0 || inputCount > INT32_MAX)
    throw RuntimeError(fmt::format("{}: {} input rows is outside [0, 2^31)", what, inputCount));
  KernelMap map;
  map.inputCount = static_cast<int>(inputCount);
  map.volume = static_cast<int>(outInMap.shape(1));
  map.outputs.resize(outInMap.shape(0)); // only the count matters to the references
  map.outInMap.assign(outInMap.data(), outInMap.data() + outInMap.size());
  for (size_t e = 0; e < map.outInMap.size(); ++e)
    if (map.outInMap[e] < -1 || map.outInMap[e] >= inputCount)
      throw RuntimeError(fmt::format("{}: out_in_map[{}][{}] = {} is outside [-1, {})", what, e / map.volume,
                                     e % map.volume, map.outInMap[e], inputCount));
  return map;
}

std::vector<double> valuesOf(const Matrix &m) { return {m.data(), m.data() + m.size()}; }
std::vector<double> valuesOf(const Weights &w) { return {w.data(), w.data() + w.size()}; }

void requireWeight(const Weights &w, const KernelMap &map, size_t inChannels, const char *what) {
  if (w.shape(0) != static_cast<size_t>(map.volume) || w.shape(1) != inChannels)
    throw RuntimeError(fmt::format("{}: weight is [{}, {}, {}], the map and input need [{}, {}, Cout]", what,
                                   w.shape(0), w.shape(1), w.shape(2), map.volume, inChannels));
}

// A built map as (output coordinates [M, 4], out_in_map [M, V]).
auto mapArrays(KernelMap &&map) {
  const size_t outputs = map.outputs.size(), volume = map.volume;
  return std::make_pair(coordinateArray(map.outputs),
                        ownedArray(std::move(map.outInMap), std::array<size_t, 2>{outputs, volume}));
}

nb::ndarray<nb::numpy, double> rows(std::vector<double> &&values, size_t count, size_t channels) {
  return ownedArray(std::move(values), std::array<size_t, 2>{count, channels});
}

using FloatArray = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;

std::vector<float> floatsOf(const FloatArray &a) { return {a.data(), a.data() + a.size()}; }

// A graph of int32 [E, 3] (src, dst, relation) rows, checked by makeRelationalGraph.
RelationalGraph graphOf(const MapRows &edges, long long nodes, int relations) {
  if (edges.shape(1) != 3)
    throw RuntimeError(fmt::format("rgcn_reference: edges must be int32 [E, 3] (src, dst, relation), not [{}, {}]",
                                   edges.shape(0), edges.shape(1)));
  std::vector<GraphEdge> list(edges.shape(0));
  for (size_t e = 0; e < list.size(); ++e)
    list[e] = {edges.data()[3 * e], edges.data()[3 * e + 1], edges.data()[3 * e + 2]};
  return makeRelationalGraph(nodes, relations, std::move(list), "edges");
}

} // namespace

NB_MODULE(_cpu, m) {
  m.doc() = "sparsekgen's CPU path: kernel maps and the float64 reference convolution";
  m.attr("version") = SPARSEKGEN_VERSION;
  python::registerRuntimeExceptionTranslator();

  m.def(
      "rgcn_reference",
      [](const MapRows &edges, long long nodes, int relations, const FloatArray &x, const FloatArray &weight,
         const FloatArray &selfWeight, const FloatArray &bias, const std::string &normalization) {
        const RelationalGraph graph = graphOf(edges, nodes, relations);
        if (x.ndim() != 2 || weight.ndim() != 3)
          throw RuntimeError("rgcn_reference: x must be [nodes, Cin] and weight [relations, Cin, Cout]");
        const int cin = static_cast<int>(x.shape(1)), cout = static_cast<int>(weight.shape(2));
        return rows(referenceRgcnForward(graph, floatsOf(x), cin, cout, floatsOf(weight), floatsOf(selfWeight),
                                         floatsOf(bias), parseRelationNormalization(normalization)),
                    static_cast<size_t>(nodes), cout);
      },
      nb::arg("edges"), nb::arg("nodes"), nb::arg("relations"), nb::arg("x"), nb::arg("weight"),
      nb::arg("self_weight"), nb::arg("bias"), nb::arg("normalization"),
      "The float64 R-GCN layer (Graph.h) on int32 [E, 3] (src, dst, relation) edges: float64 [nodes, Cout].\n"
      "self_weight [Cin, Cout] and bias [Cout] may be empty; normalization: sum, mean or symmetric.");

  m.def(
      "kernel_map",
      [](const CoordinateRows &coordinates, Axes kernelSize, Axes stride, Axes dilation) {
        auto inputs = coordinatesOf(coordinates, "kernel_map");
        return mapArrays(buildKernelMapCpu(inputs, geometryOf(kernelSize, stride, dilation)));
      },
      nb::arg("coordinates"), nb::arg("kernel_size"), nb::arg("stride"), nb::arg("dilation"),
      "Submanifold (stride 1) or strided map: (output coordinates int32 [M, 4], out_in_map int32 [M, V]).\n"
      "Strided outputs are the inputs floor-divided by the stride, de-duplicated and sorted.");

  m.def(
      "transposed_kernel_map",
      [](const MapRows &stridedOutIn, const CoordinateRows &fineCoordinates) {
        auto fine = coordinatesOf(fineCoordinates, "transposed_kernel_map");
        KernelMap strided = mapOf(stridedOutIn, static_cast<long long>(fine.size()), "transposed_kernel_map");
        KernelMap map = transposedKernelMapCpu(strided, fine);
        const size_t outputs = map.outputs.size(), volume = map.volume;
        return ownedArray(std::move(map.outInMap), std::array<size_t, 2>{outputs, volume});
      },
      nb::arg("strided_out_in_map"), nb::arg("fine_coordinates"),
      "The upsampling map mirroring a strided map: out_in_map int32 [fine rows, V].");

  m.def(
      "generative_transposed_kernel_map",
      [](const CoordinateRows &coordinates, Axes kernelSize, Axes stride, Axes dilation) {
        auto inputs = coordinatesOf(coordinates, "generative_transposed_kernel_map");
        return mapArrays(generativeTransposedKernelMapCpu(inputs, geometryOf(kernelSize, stride, dilation)));
      },
      nb::arg("coordinates"), nb::arg("kernel_size"), nb::arg("stride"), nb::arg("dilation"),
      "Generative transposed map: every input * stride + offset, de-duplicated and sorted.");

  m.def(
      "conv_forward",
      [](const Matrix &input, const Weights &weight, const MapRows &outInMap) {
        KernelMap map = mapOf(outInMap, static_cast<long long>(input.shape(0)), "conv_forward");
        requireWeight(weight, map, input.shape(1), "conv_forward");
        const int cin = static_cast<int>(input.shape(1)), cout = static_cast<int>(weight.shape(2));
        return rows(referenceConvForward(valuesOf(input), valuesOf(weight), map, cin, cout), map.outputs.size(), cout);
      },
      nb::arg("input"), nb::arg("weight"), nb::arg("out_in_map"),
      "out[j] = sum_k input[map(j, k)] @ weight[k], in float64: [M, Cout].");

  m.def(
      "conv_input_grad",
      [](const Matrix &outputGrad, const Weights &weight, const MapRows &outInMap, long long inputCount) {
        KernelMap map = mapOf(outInMap, inputCount, "conv_input_grad");
        if (outputGrad.shape(0) != map.outputs.size() || outputGrad.shape(1) != weight.shape(2))
          throw RuntimeError(fmt::format("conv_input_grad: output gradient is [{}, {}], the map and weight need "
                                         "[{}, {}]",
                                         outputGrad.shape(0), outputGrad.shape(1), map.outputs.size(),
                                         weight.shape(2)));
        requireWeight(weight, map, weight.shape(1), "conv_input_grad");
        const int cin = static_cast<int>(weight.shape(1)), cout = static_cast<int>(weight.shape(2));
        return rows(referenceConvInputGrad(valuesOf(outputGrad), valuesOf(weight), map, cin, cout),
                    static_cast<size_t>(inputCount), cin);
      },
      nb::arg("output_grad"), nb::arg("weight"), nb::arg("out_in_map"), nb::arg("input_count"),
      "The input gradient of conv_forward, in float64: [input_count, Cin].");

  m.def(
      "conv_weight_grad",
      [](const Matrix &input, const Matrix &outputGrad, const MapRows &outInMap) {
        KernelMap map = mapOf(outInMap, static_cast<long long>(input.shape(0)), "conv_weight_grad");
        if (outputGrad.shape(0) != map.outputs.size())
          throw RuntimeError(fmt::format("conv_weight_grad: output gradient has {} rows, the map {}",
                                         outputGrad.shape(0), map.outputs.size()));
        const int cin = static_cast<int>(input.shape(1)), cout = static_cast<int>(outputGrad.shape(1));
        return ownedArray(referenceConvWeightGrad(valuesOf(input), valuesOf(outputGrad), map, cin, cout),
                          std::array<size_t, 3>{static_cast<size_t>(map.volume), static_cast<size_t>(cin),
                                                static_cast<size_t>(cout)});
      },
      nb::arg("input"), nb::arg("output_grad"), nb::arg("out_in_map"),
      "The weight gradient of conv_forward, in float64: [V, Cin, Cout].");

  bindNetworks(m);
}
