// sparsekgen._gpu: the runtime's GPU path for the Python package: coordinates hashed on the device,
// kernel maps built there, and each convolution operation (forward, input gradient, weight gradient)
// dispatched through a config table (or the heuristic) to a kernel of the linked default bundle.
//
// Tensors cross as raw device pointers of torch's allocations with the stream torch is using, so
// nothing here links libtorch and one build serves every torch version; the Python side checks
// dtypes, devices and contiguity before a pointer gets here (sparsekgen/gpu.py). Every call runs
// on the given stream; the calls that must know a size on the host (a map's output and pair counts)
// synchronise that stream once.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include <fmt/format.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include "ExceptionTranslation.h"
#ifdef SPARSEKGEN_GRAPH_BUNDLE
#include "GraphBindings.h"
#endif
#include "network/NetworkOps.h"
#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/Context.h"
#include "sparsekgen/Conv.h"
#include "sparsekgen/ConvDispatch.h"
#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/GpuKernelMaps.h"
#include "ApplicationBundles.h"

namespace nb = nanobind;
using namespace sparsekgen;

namespace {

using Axes = std::array<int, 3>;

CUstream streamOf(uintptr_t stream) { return reinterpret_cast<CUstream>(stream); }

// The device, the application bundles' kernels (ApplicationBundles.h) and the dispatch table of one
// Python process.
class Runtime {
public:
  Runtime(int device, const std::optional<std::string> &tablePath, bool allowMismatch)
      : context_(device, applicationBundles()), descriptions_(describeKernels(context_.kernels())) {
    if (tablePath) {
      table_ = ConfigTable::load(*tablePath);
      table_->requireMatch(context_.device().name, context_.device().sm, context_.bundleHash(), allowMismatch);
    }
  }
  Context &context() { return context_; }
  const ConfigTable *table() const { return table_ ? &*table_ : nullptr; }
  const std::vector<KernelDescription> &descriptions() const { return descriptions_; }
  void makeCurrent() { checkCuda(cuCtxSetCurrent(context_.handle()), "cuCtxSetCurrent", "(sparsekgen._gpu)"); }

private:
  Context context_;
  std::vector<KernelDescription> descriptions_;
  std::optional<ConfigTable> table_;
};

// Coordinates on the device with their hash table (built on first use, shared by every map from them).
struct Coordinates {
  std::shared_ptr<const SparseCoordinates> rows;
};

// A kernel map with what the dispatched kernels read beyond it, each built on first use and kept
// with the map (the tensors of one run share them): its pair count, its transpose (the input
// gradient runs on it) and the sort inputs or pair lists of the kernels that ran on it.
class Map {
public:
  Map(DeviceKernelMap map, CUstream stream, std::shared_ptr<Map> mirrored = nullptr)
      : map_(std::move(map)), mirrored_(std::move(mirrored)) {
    DeviceBuffer count(sizeof(long long), stream);
    countMapPairs({map_.outInMap.get()}, {static_cast<long long>(map_.outputCount()) * map_.volume}, count.get(),
                  stream);
    checkCuda(cuStreamSynchronize(stream), "cuStreamSynchronize", "(kernel map pair count)");
    pairs_ = count.download<long long>()[0];
  }

  const DeviceKernelMap &map() const { return map_; }
  long long pairs() const { return pairs_; }
  bool transposed() const { return map_.kind != MapKind::Forward; }

  // The map of the input gradient: for an upsampling map mirroring a strided one, that one.
  const DeviceKernelMap &transpose(CUstream stream) {
    if (mirrored_)
      return mirrored_->map();
    if (!transpose_)
      transpose_ = transposedKernelMapGpu(map_, stream);
    return *transpose_;
  }

  const DeviceKernelMapExtras *extras(const skg_kernel_record &kernel, int splits, bool ofTranspose,
                                      CUstream stream) {
    const auto wanted = mapExtrasRequest(kernel, splits);
    if (!wanted)
      return nullptr;
    if (wanted->pairs)
      ofTranspose = false; // pair-list input gradients read the forward's lists, swapped
    auto key = std::make_tuple(ofTranspose, wanted->splits, wanted->tileRows, wanted->pairs);
    auto it = extras_.find(key);
    if (it == extras_.end())
      it = extras_.emplace(key, kernelMapExtrasGpu(ofTranspose ? transpose(stream) : map_, *wanted, stream)).first;
    return &it->second;
  }

private:
  DeviceKernelMap map_;
  std::shared_ptr<Map> mirrored_;
  long long pairs_ = 0;
  std::optional<DeviceKernelMap> transpose_;
  std::map<std::tuple<bool, int, int, bool>, DeviceKernelMapExtras> extras_;
};

ConvGeometry geometryOf(const Axes &kernelSize, const Axes &stride, const Axes &dilation) {
  ConvGeometry geometry{kernelSize, stride, dilation};
  kernelOffsets(geometry); // refuses sizes, strides or dilations below 1
  return geometry;
}

// The tensors and channel counts of one convolution call, as the Python side checked them.
struct ConvCall {
  int inChannels = 0, outChannels = 0;
  std::string dtype; // "f16", "bf16" or "f32"
};

DispatchedKernel dispatchFor(Runtime &runtime, const Map &map, const ConvCall &call, const char *operation) {
  const DeviceKernelMap &m = map.map();
  LayerKey key = layerKey(call.inChannels, call.outChannels, m.volume, map.transposed(), call.dtype, {},
                          m.outputCount(), map.pairs());
  if (std::string(operation) != "forward")
    key = operationKey(key, operation);
  return dispatchConvKernel(runtime.context(), runtime.table(), runtime.descriptions(), key, m, map.pairs());
}

// The kernel and the reason a layer of this shape is dispatched to, for `explain`-style inspection.
nb::dict describeDispatch(const DispatchedKernel &d) {
  nb::dict out;
  out["kernel"] = d.dispatch.choice.kernel;
  out["splits"] = d.splits;
  out["reason"] = d.dispatch.reason;
  out["source"] = d.dispatch.source == Dispatch::Source::Exact     ? "exact"
                  : d.dispatch.source == Dispatch::Source::Nearest ? "nearest"
                                                                   : "heuristic";
  return out;
}

void convForwardCall(Runtime &runtime, Map &map, uintptr_t input, uintptr_t weight, uintptr_t output,
                     const ConvCall &call, uintptr_t streamHandle) {
  runtime.makeCurrent();
  CUstream stream = streamOf(streamHandle);
  const DispatchedKernel d = dispatchFor(runtime, map, call, "forward");
  const DeviceKernelMap &m = map.map();
  ConvForwardArguments args;
  args.input = input;
  args.weight = weight;
  args.outInMap = m.outInMap.get();
  args.output = output;
  args.inputs = m.inputCount();
  args.outputs = m.outputCount();
  args.inChannels = call.inChannels;
  args.outChannels = call.outChannels;
  args.kernelVolume = m.volume;
  args.splits = d.splits;
  if (const auto *extras = map.extras(*d.kernel, d.splits, false, stream)) {
    args.permutation = extras->splitPermutations.get();
    args.tileMasks = extras->tileMasks.get();
    args.maskWords = extras->groupMaskWords;
    args.pairInputs = extras->pairInputs.get();
    args.pairOutputs = extras->pairOutputs.get();
    args.pairOffsets = extras->pairOffsets;
  }
  convForward(runtime.context(), *d.kernel, args, stream);
}

void convBackwardCall(Runtime &runtime, Map &map, uintptr_t input, uintptr_t weight, uintptr_t outputGrad,
                      uintptr_t inputGrad, uintptr_t weightGrad, const ConvCall &call, uintptr_t streamHandle) {
  runtime.makeCurrent();
  CUstream stream = streamOf(streamHandle);
  const DeviceKernelMap &m = map.map();
  ConvBackwardArguments args;
  args.input = input;
  args.weight = weight;
  args.outputGrad = outputGrad;
  args.inputs = m.inputCount();
  args.outputs = m.outputCount();
  args.inChannels = call.inChannels;
  args.outChannels = call.outChannels;
  args.kernelVolume = m.volume;
  if (weightGrad) {
    const DispatchedKernel d = dispatchFor(runtime, map, call, "weight_grad");
    args.weightGrad = weightGrad;
    args.weightGradSplits = d.splits;
    if (const auto *pairs = map.extras(*d.kernel, 0, false, stream)) {
      args.pairInputs = pairs->pairInputs.get();
      args.pairOutputs = pairs->pairOutputs.get();
      args.pairOffsets = pairs->pairOffsets;
    }
    convBackward(runtime.context(), nullptr, d.kernel, args, stream);
  }
  if (inputGrad) {
    const DispatchedKernel d = dispatchFor(runtime, map, call, "input_grad");
    args.inputGrad = inputGrad;
    args.transposedMap = map.transpose(stream).outInMap.get();
    args.inputGradSplits = d.splits;
    if (const auto *extras = map.extras(*d.kernel, d.splits, true, stream)) {
      args.transposedPermutation = extras->splitPermutations.get();
      args.transposedTileMasks = extras->tileMasks.get();
      args.transposedMaskWords = extras->groupMaskWords;
      if (!extras->pairOffsets.empty()) {
        args.pairInputs = extras->pairInputs.get();
        args.pairOutputs = extras->pairOutputs.get();
        args.pairOffsets = extras->pairOffsets;
      }
    }
    convBackward(runtime.context(), d.kernel, nullptr, args, stream);
  }
}

void copyDeviceToDevice(uintptr_t destination, CUdeviceptr source, size_t bytes, CUstream stream, const char *what) {
  if (bytes)
    checkCuda(cuMemcpyDtoDAsync(destination, source, bytes, stream), "cuMemcpyDtoDAsync", what);
}

} // namespace

NB_MODULE(_gpu, m) {
  m.doc() = "sparsekgen's GPU path: kernel maps on the device and dispatched convolution kernels";
  sparsekgen::python::registerRuntimeExceptionTranslator();
  nb::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const CudaError &e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

#ifdef SPARSEKGEN_GRAPH_BUNDLE
  sparsekgen::python::registerGraphBindings(m);
  m.attr("has_graphs") = true;
#else
  m.attr("has_graphs") = false;
#endif

  m.def(
      "device_count",
      [] {
        std::string why;
        const int count = Context::deviceCount(&why);
        return std::make_pair(count, why);
      },
      "(number of CUDA devices, the reason when there are none): no exception without a driver.");

  nb::class_<Runtime>(m, "Runtime")
      .def(nb::init<int, const std::optional<std::string> &, bool>(), nb::arg("device"),
           nb::arg("table") = nb::none(), nb::arg("allow_mismatch") = false,
           "Opens `device` (its primary context, the one torch uses) with the default bundle's kernels and, "
           "where the build has it, the Hopper bundle's warpgroup-MMA kernels (which only sm_90 GPUs run); "
           "`table`: a config table tuned for this GPU and bundle (sparsekgen-tune), else heuristic dispatch.")
      .def_prop_ro("device_name", [](Runtime &r) { return r.context().device().name; })
      .def_prop_ro("sm", [](Runtime &r) { return r.context().device().sm; })
      .def_prop_ro("bundle_hash", [](Runtime &r) { return r.context().bundleHash(); })
      .def_prop_ro("kernel_count", [](Runtime &r) { return r.descriptions().size(); })
      .def_prop_ro("has_table", [](Runtime &r) { return r.table() != nullptr; })
      .def(
          "dispatch",
          [](Runtime &r, Map &map, int cin, int cout, const std::string &dtype, const std::string &operation) {
            return describeDispatch(dispatchFor(r, map, ConvCall{cin, cout, dtype}, operation.c_str()));
          },
          nb::arg("map"), nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("dtype"),
          nb::arg("operation") = "forward", "How a convolution of this shape on `map` is dispatched.");

  nb::class_<Coordinates>(m, "Coordinates")
      .def_prop_ro("rows", [](const Coordinates &c) { return c.rows->size(); })
      .def(
          "copy_to",
          [](const Coordinates &c, uintptr_t destination, uintptr_t stream) {
            copyDeviceToDevice(destination, c.rows->data(), static_cast<size_t>(c.rows->size()) * 16,
                               streamOf(stream), "(coordinates to a tensor)");
          },
          nb::arg("destination"), nb::arg("stream"), "Copies the rows (int32 [rows, 4]) to device memory.");

  m.def(
      "coordinates",
      [](Runtime &r, uintptr_t pointer, int rows, uintptr_t stream) {
        r.makeCurrent();
        auto c = SparseCoordinates::fromDevice(pointer, rows, streamOf(stream));
        c->hashTable(streamOf(stream)); // checks for duplicates now, naming the rows
        return Coordinates{std::move(c)};
      },
      nb::arg("runtime"), nb::arg("pointer"), nb::arg("rows"), nb::arg("stream"),
      "Coordinates int32 [rows, 4] (batch, x, y, z) at `pointer`, copied, range- and duplicate-checked.");

  nb::class_<Map>(m, "Map")
      .def_prop_ro("input_count", [](const Map &map) { return map.map().inputCount(); })
      .def_prop_ro("output_count", [](const Map &map) { return map.map().outputCount(); })
      .def_prop_ro("volume", [](const Map &map) { return map.map().volume; })
      .def_prop_ro("pair_count", &Map::pairs)
      .def_prop_ro("transposed", &Map::transposed)
      .def_prop_ro("outputs", [](const Map &map) { return Coordinates{map.map().outputs}; })
      .def(
          "copy_out_in_map_to",
          [](const Map &map, uintptr_t destination, uintptr_t stream) {
            copyDeviceToDevice(destination, map.map().outInMap.get(),
                               static_cast<size_t>(map.map().outputCount()) * map.map().volume * sizeof(int32_t),
                               streamOf(stream),
                               "(kernel map to a tensor)");
          },
          nb::arg("destination"), nb::arg("stream"), "Copies out_in_map (int32 [outputs, volume]) to device memory.");

  m.def(
      "kernel_map",
      [](Runtime &r, const Coordinates &inputs, Axes kernelSize, Axes stride, Axes dilation, uintptr_t stream) {
        r.makeCurrent();
        auto built = buildKernelMapGpu(inputs.rows, geometryOf(kernelSize, stride, dilation), streamOf(stream));
        return std::make_shared<Map>(std::move(built), streamOf(stream));
      },
      nb::arg("runtime"), nb::arg("inputs"), nb::arg("kernel_size"), nb::arg("stride"), nb::arg("dilation"),
      nb::arg("stream"), "Submanifold (stride 1) or strided map over `inputs` (as _cpu.kernel_map).");

  m.def(
      "transposed_kernel_map",
      [](Runtime &r, const std::shared_ptr<Map> &strided, uintptr_t stream) {
        r.makeCurrent();
        return std::make_shared<Map>(transposedKernelMapGpu(strided->map(), streamOf(stream)), streamOf(stream),
                                     strided);
      },
      nb::arg("runtime"), nb::arg("strided"), nb::arg("stream"),
      "The upsampling map mirroring `strided`: its outputs are the strided map's inputs.");

  m.def(
      "generative_transposed_kernel_map",
      [](Runtime &r, const Coordinates &inputs, Axes kernelSize, Axes stride, Axes dilation, uintptr_t stream) {
        r.makeCurrent();
        auto built = generativeTransposedKernelMapGpu(inputs.rows, geometryOf(kernelSize, stride, dilation),
                                                      streamOf(stream));
        return std::make_shared<Map>(std::move(built), streamOf(stream));
      },
      nb::arg("runtime"), nb::arg("inputs"), nb::arg("kernel_size"), nb::arg("stride"), nb::arg("dilation"),
      nb::arg("stream"), "Generative transposed map: every input * stride + offset.");

  m.def(
      "conv_forward",
      [](Runtime &r, Map &map, uintptr_t input, uintptr_t weight, uintptr_t output, int cin, int cout,
         const std::string &dtype, uintptr_t stream) {
        convForwardCall(r, map, input, weight, output, ConvCall{cin, cout, dtype}, stream);
      },
      nb::arg("runtime"), nb::arg("map"), nb::arg("input"), nb::arg("weight"), nb::arg("output"),
      nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("dtype"), nb::arg("stream"),
      "output [outputs, Cout] = conv(input [inputs, Cin], weight [volume, Cin, Cout]) on `map`, all in `dtype`.");

  m.def(
      "conv_backward",
      [](Runtime &r, Map &map, uintptr_t input, uintptr_t weight, uintptr_t outputGrad, uintptr_t inputGrad,
         uintptr_t weightGrad, int cin, int cout, const std::string &dtype, uintptr_t stream) {
        convBackwardCall(r, map, input, weight, outputGrad, inputGrad, weightGrad, ConvCall{cin, cout, dtype}, stream);
      },
      nb::arg("runtime"), nb::arg("map"), nb::arg("input"), nb::arg("weight"), nb::arg("output_grad"),
      nb::arg("input_grad"), nb::arg("weight_grad"), nb::arg("in_channels"), nb::arg("out_channels"),
      nb::arg("dtype"), nb::arg("stream"),
      "input_grad [inputs, Cin] in `dtype` and weight_grad [volume, Cin, Cout] f32 (each skipped when 0).");
}
