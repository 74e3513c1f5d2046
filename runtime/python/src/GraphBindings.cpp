// sparsekgen._gpu's relational graph layers (GraphConv.h) on the graph bundle: the graph's pair
// lists built on the device once, and the R-GCN layer's forward and backward through the bundle's
// kernels, chosen by chooseGraphKernel or named by the caller (the benchmark sweeps them).
#include "GraphBindings.h"

#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/Context.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/GraphConv.h"
#include "sparsekgen/GraphKernelChoice.h"
#include "sparsekgen_graph_kernels.h"

namespace nb = nanobind;

namespace sparsekgen::python {

namespace {

CUstream streamOf(uintptr_t stream) { return reinterpret_cast<CUstream>(stream); }

// The device's graph-bundle kernels.
class GraphRuntime {
public:
  explicit GraphRuntime(int device)
      : context_(device, sparsekgen_graph_kernels), descriptions_(describeKernels(context_.kernels())) {}
  Context &context() { return context_; }
  void makeCurrent() { checkCuda(cuCtxSetCurrent(context_.handle()), "cuCtxSetCurrent", "(sparsekgen._gpu graphs)"); }

  // `name` when given, else the rule's choice for the request.
  const skg_kernel_record &kernel(const GraphKernelRequest &request, const std::optional<std::string> &name) {
    if (name && !name->empty())
      return context_.findKernel(*name);
    return context_.findKernel(chooseGraphKernel(descriptions_, request).name);
  }
  std::vector<std::string> kernelNames(const std::string &operation) const {
    std::vector<std::string> names;
    for (const KernelDescription &d : descriptions_)
      if (d.operation == operation)
        names.push_back(d.name);
    return names;
  }

private:
  Context context_;
  std::vector<KernelDescription> descriptions_;
};

} // namespace

void registerGraphBindings(nb::module_ &m) {
  m.attr("graph_bundle_hash") = sparsekgen_graph_kernels.bundle_hash;

  nb::class_<GraphRuntime>(m, "GraphRuntime")
      .def(nb::init<int>(), nb::arg("device"), "Opens `device` with the graph bundle's kernels.")
      .def("kernel_names", &GraphRuntime::kernelNames, nb::arg("operation"),
           "The names of the bundle's kernels of `operation` (forward, input_grad, weight_grad) this device runs.");

  nb::class_<DeviceRelationGraph>(m, "RelationGraph")
      .def_ro("nodes", &DeviceRelationGraph::nodes)
      .def_ro("relations", &DeviceRelationGraph::relations)
      .def_ro("self_term", &DeviceRelationGraph::selfTerm)
      .def_prop_ro("kernel_volume", &DeviceRelationGraph::kernelVolume)
      .def_prop_ro("pair_count", &DeviceRelationGraph::pairCount)
      .def_ro("pair_offsets", &DeviceRelationGraph::pairOffsets);

  m.def(
      "relation_graph",
      [](GraphRuntime &r, uintptr_t sources, uintptr_t targets, uintptr_t relationOfEdge, long long edges,
         long long nodes, int relations, const std::string &normalization, bool selfTerm, uintptr_t stream) {
        r.makeCurrent();
        return std::make_shared<DeviceRelationGraph>(relationGraphGpu(sources, targets, relationOfEdge, edges, nodes,
                                                                      relations, parseRelationNormalization(normalization),
                                                                      selfTerm, streamOf(stream)));
      },
      nb::arg("runtime"), nb::arg("sources"), nb::arg("targets"), nb::arg("relations_of_edges"), nb::arg("edges"),
      nb::arg("nodes"), nb::arg("relations"), nb::arg("normalization"), nb::arg("self_term"), nb::arg("stream"),
      "Pair lists and weights of int32 device arrays of `edges` edges (synchronises `stream`).");

  m.def(
      "rgcn_forward",
      [](GraphRuntime &r, const DeviceRelationGraph &graph, uintptr_t input, uintptr_t weight, uintptr_t bias,
         uintptr_t output, int cin, int cout, const std::string &dtype, bool relu,
         const std::optional<std::string> &kernelName, uintptr_t stream) {
        r.makeCurrent();
        GraphKernelRequest request{"forward", dtype, cin, cout, {}, "", false};
        if (bias)
          request.epilogue.push_back("bias");
        if (relu)
          request.epilogue.push_back("relu");
        const skg_kernel_record &kernel = r.kernel(request, kernelName);
        rgcnForward(r.context(), kernel, graph, {input, weight, bias, output, cin, cout}, streamOf(stream));
        return std::string(kernel.name);
      },
      nb::arg("runtime"), nb::arg("graph"), nb::arg("input"), nb::arg("weight"), nb::arg("bias"), nb::arg("output"),
      nb::arg("in_channels"), nb::arg("out_channels"), nb::arg("dtype"), nb::arg("relu"),
      nb::arg("kernel") = nb::none(), nb::arg("stream"),
      "output [nodes, Cout] = R-GCN(input [nodes, Cin], weight [kernel_volume, Cin, Cout]) (+ bias f32, ReLU); "
      "returns the kernel's name.");

  m.def(
      "rgcn_backward",
      [](GraphRuntime &r, const DeviceRelationGraph &graph, uintptr_t input, uintptr_t weight, uintptr_t outputGrad,
         uintptr_t inputGrad, uintptr_t weightGrad, int cin, int cout, const std::string &dtype,
         const std::optional<std::string> &inputGradKernel, const std::optional<std::string> &weightGradKernel,
         uintptr_t stream) {
        r.makeCurrent();
        const skg_kernel_record *dx =
            inputGrad ? &r.kernel({"input_grad", dtype, cin, cout, {}, "", false}, inputGradKernel) : nullptr;
        const skg_kernel_record *dw =
            weightGrad ? &r.kernel({"weight_grad", dtype, cin, cout, {}, "", false}, weightGradKernel) : nullptr;
        rgcnBackward(r.context(), dx, dw, graph, {input, weight, outputGrad, inputGrad, weightGrad, cin, cout},
                     streamOf(stream));
      },
      nb::arg("runtime"), nb::arg("graph"), nb::arg("input"), nb::arg("weight"), nb::arg("output_grad"),
      nb::arg("input_grad"), nb::arg("weight_grad"), nb::arg("in_channels"), nb::arg("out_channels"),
      nb::arg("dtype"), nb::arg("input_grad_kernel") = nb::none(), nb::arg("weight_grad_kernel") = nb::none(),
      nb::arg("stream"),
      "input_grad [nodes, Cin] in `dtype` and weight_grad [kernel_volume, Cin, Cout] f32 (each skipped when 0).");
}

} // namespace sparsekgen::python
