"""Relational graph convolution (R-GCN) as an autograd Function (docs/graphs.md):

    out_i = sum_r sum_{j in N_r(i)} norm_{r,i,j} x_j W_r + x_i W_self + b

``RelationGraph`` holds a graph's typed edges prepared once: on a CUDA device, pair lists sorted
by relation and destination with each edge's normalisation weight (built on the device by the
runtime); on the CPU, the edges and their weights as tensors. ``rgcn`` runs the layer: on CUDA
tensors, the graph bundle's kernels (forward, input gradient, weight gradient), the normalisation
applied per edge inside them; on CPU tensors, float64 torch arithmetic (autograd through it).
Edges follow PyTorch Geometric: ``edge_index[0]`` are sources j, ``edge_index[1]`` destinations i.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch

from sparsekgen import gpu
from sparsekgen.functional import _autocast

NORMALIZATIONS = ("sum", "mean", "symmetric")
_graph_runtimes: Dict[int, object] = {}


def graph_unavailable_reason() -> Optional[str]:
    """None when graph layers can run on the GPU here, else why not."""
    reason = gpu.unavailable_reason()
    if reason is None and not getattr(gpu._gpu, "has_graphs", False):
        reason = "the package was built without the graph bundle (templates/catalogs/graph.json)"
    return reason


def graph_runtime(device: torch.device):
    """The graph bundle's kernels on ``device`` (opened on first use)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _graph_runtimes:
        gpu.runtime(device)  # the GPU path's checks, and torch's primary context first, as for convolutions
        if not gpu._gpu.has_graphs:
            raise RuntimeError(f"sparsekgen: graph tensors on {device} need the GPU path, but "
                               f"{graph_unavailable_reason()}")
        _graph_runtimes[index] = gpu._gpu.GraphRuntime(index)
    return _graph_runtimes[index]


def _edge_weights(src: torch.Tensor, dst: torch.Tensor, rel: torch.Tensor, num_nodes: int, num_relations: int,
                  normalization: str) -> torch.Tensor:
    """Each edge's weight (float64) under ``normalization``: 1, 1/|N_r(i)|, or 1/sqrt(|N_r(i)| |N_r(j)|)."""
    if normalization == "sum":
        return torch.ones(len(src), dtype=torch.float64, device=src.device)
    keys = rel.long() * num_nodes
    in_degree = torch.bincount(keys + dst.long(), minlength=num_relations * num_nodes).double()
    weight = 1.0 / in_degree[keys + dst.long()]
    if normalization == "symmetric":
        out_degree = torch.bincount(keys + src.long(), minlength=num_relations * num_nodes).double()
        weight = torch.sqrt(weight / out_degree[keys + src.long()])
    return weight


class RelationGraph:
    """Typed edges prepared for R-GCN layers: ``edge_index`` int [2, E] (sources, destinations),
    ``edge_type`` int [E] in [0, num_relations), on the device the layers run on.

    ``normalization``: "sum", "mean" (1/|N_r(i)|, R-GCN's c_{i,r} and PyG's default aggr="mean") or
    "symmetric" (1/sqrt(|N_r(i)| |N_r(j)|)). ``self_term``: the layers add x_i W_self. Self loops
    are ordinary edges and duplicate edges separate messages, as in PyG. Out-of-range ids raise
    ValueError naming the edge.
    """

    def __init__(self, edge_index: torch.Tensor, edge_type: torch.Tensor, num_nodes: int, num_relations: int,
                 normalization: str = "mean", self_term: bool = True):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization {normalization!r}: expected one of {', '.join(NORMALIZATIONS)}")
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must be [2, E] (sources, destinations), not {list(edge_index.shape)}")
        if edge_type.dim() != 1 or edge_type.shape[0] != edge_index.shape[1]:
            raise ValueError(f"edge_type must be [E] with E = {edge_index.shape[1]} edges, not "
                             f"{list(edge_type.shape)}")
        if edge_index.dtype.is_floating_point or edge_type.dtype.is_floating_point:
            raise ValueError("edge_index and edge_type must be integer tensors")
        if num_nodes < 1 or num_relations < 1:
            raise ValueError(f"a graph needs nodes and relations, not {num_nodes} and {num_relations}")
        if edge_index.shape[1] == 0:
            raise ValueError("the graph has no edges; a graph convolution of no edges is only its self term")
        self.num_nodes, self.num_relations = int(num_nodes), int(num_relations)
        self.normalization, self.self_term = normalization, bool(self_term)
        self.device = edge_index.device
        src = edge_index[0].to(torch.int32).contiguous()
        dst = edge_index[1].to(torch.int32).contiguous()
        rel = edge_type.to(device=self.device, dtype=torch.int32).contiguous()
        if self.device.type == "cuda":
            # The runtime's refusals of the input (an edge out of range) arrive as ValueError.
            self.device_graph = gpu._gpu.relation_graph(
                graph_runtime(self.device), src.data_ptr(), dst.data_ptr(), rel.data_ptr(), src.shape[0],
                self.num_nodes, self.num_relations, normalization, self.self_term, gpu.stream(self.device))
        else:
            self.device_graph = None
            for name, values, bound in (("src", src, self.num_nodes), ("dst", dst, self.num_nodes),
                                        ("relation", rel, self.num_relations)):
                bad = ((values < 0) | (values >= bound)).nonzero()
                if len(bad):
                    row = int(bad[0])
                    raise ValueError(f"relational graph: edge row {row} (src {int(src[row])}, dst {int(dst[row])}, "
                                     f"relation {int(rel[row])}): {name} {int(values[row])} is outside [0, {bound})")
            self.src, self.dst, self.rel = src.long(), dst.long(), rel.long()
            self.weights = _edge_weights(src, dst, rel, self.num_nodes, self.num_relations, normalization)

    @property
    def kernel_volume(self) -> int:
        """Weight slabs a layer reads: one per relation, and W_self last with a self term."""
        return self.num_relations + (1 if self.self_term else 0)


class _DeviceRgcn(torch.autograd.Function):
    """The layer on the graph bundle's kernels; ReLU fused into the forward's epilogue, its mask
    applied to dy in the backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], graph: RelationGraph,
                relu: bool, kernels: Optional[Dict[str, str]]):
        device = x.device
        dtype = gpu.dtype_name(x, "R-GCN layer")
        rt = graph_runtime(device)
        x = x.contiguous()
        w = weight.detach().to(x.dtype).contiguous()
        b = bias.detach().float().contiguous() if bias is not None else None
        cin, cout = x.shape[1], w.shape[2]
        out = torch.empty((graph.num_nodes, cout), dtype=x.dtype, device=device)  # every row is written
        gpu._gpu.rgcn_forward(rt, graph.device_graph, gpu.pointer(x, device, "features"),
                              gpu.pointer(w, device, "weight"), b.data_ptr() if b is not None else 0,
                              out.data_ptr(), cin, cout, dtype, relu, (kernels or {}).get("forward"),
                              stream=gpu.stream(device))
        ctx.save_for_backward(x, w, out if relu else None)
        ctx.graph, ctx.relu, ctx.kernels = graph, relu, kernels or {}
        ctx.weight_dtype, ctx.has_bias = weight.dtype, bias is not None
        return out

    @staticmethod
    def backward(ctx, output_grad: torch.Tensor):
        x, w, out = ctx.saved_tensors
        graph: RelationGraph = ctx.graph
        device = x.device
        dy = output_grad.to(x.dtype)
        if ctx.relu:
            dy = dy * (out > 0)
        dy = dy.contiguous()
        want_x, want_w, want_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        dx = torch.empty_like(x) if want_x else None
        dw = torch.empty(tuple(w.shape), dtype=torch.float32, device=device) if want_w else None
        if want_x or want_w:
            gpu._gpu.rgcn_backward(graph_runtime(device), graph.device_graph, gpu.pointer(x, device, "features"),
                                   gpu.pointer(w, device, "weight"), gpu.pointer(dy, device, "output gradient"),
                                   dx.data_ptr() if dx is not None else 0, dw.data_ptr() if dw is not None else 0,
                                   x.shape[1], w.shape[2], gpu.dtype_name(x, "R-GCN backward"),
                                   ctx.kernels.get("input_grad"), ctx.kernels.get("weight_grad"),
                                   stream=gpu.stream(device))
        db = dy.float().sum(0) if want_b and ctx.has_bias else None
        return dx, (dw.to(ctx.weight_dtype) if dw is not None else None), db, None, None, None


def _reference_rgcn(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], graph: RelationGraph,
                    relu: bool) -> torch.Tensor:
    """The layer in float64 torch arithmetic (CPU tensors; autograd through it), in x's dtype."""
    xd, wd = x.double(), weight.double()
    out = torch.zeros((graph.num_nodes, weight.shape[2]), dtype=torch.float64)
    for r in range(graph.num_relations):
        edges = (graph.rel == r).nonzero().flatten()
        if len(edges):
            messages = xd[graph.src[edges]] @ wd[r]
            out = out.index_add(0, graph.dst[edges], messages * graph.weights[edges, None])
    if graph.self_term:
        out = out + xd @ wd[graph.num_relations]
    if bias is not None:
        out = out + bias.double()
    if relu:
        out = torch.relu(out)
    return out.to(x.dtype)


def rgcn(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], graph: RelationGraph,
         relu: bool = False, kernels: Optional[Dict[str, str]] = None) -> torch.Tensor:
    """One R-GCN layer: ``x`` [nodes, Cin], ``weight`` [graph.kernel_volume, Cin, Cout] (relations, then
    W_self with a self term), ``bias`` [Cout] or None, ReLU fused when ``relu``. ``kernels`` names
    the graph bundle's kernels by operation ("forward", "input_grad", "weight_grad") instead of the
    runtime's choice (benchmarks sweep them)."""
    if x.dim() != 2 or x.shape[0] != graph.num_nodes:
        raise ValueError(f"R-GCN layer: features must be [nodes = {graph.num_nodes}, Cin], not {list(x.shape)}")
    if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise ValueError(f"R-GCN layer: features must be floating point (one-hot inputs as an embedding), "
                         f"not {x.dtype}")
    if weight.dim() != 3 or weight.shape[0] != graph.kernel_volume or weight.shape[1] != x.shape[1]:
        raise ValueError(f"R-GCN layer: weight {list(weight.shape)} does not fit [{graph.kernel_volume} "
                         f"(relations{' + self' if graph.self_term else ''}), Cin {x.shape[1]}, Cout]")
    if x.device != graph.device or weight.device != graph.device:
        raise ValueError(f"R-GCN layer: features on {x.device}, weight on {weight.device}, graph on {graph.device}")
    if graph.device_graph is None:
        return _reference_rgcn(x, weight, bias, graph, relu)
    return _DeviceRgcn.apply(_autocast(x), weight, bias, graph, relu, kernels)


def load_graph(path: str):
    """A graph document (schemas/graph.schema.json): (edge_index int64 [2, E], edge_type int64 [E],
    num_nodes, num_relations, features float32 [nodes, C] or None), on the CPU. The C++ loader
    (loadRelationalGraph) is the one that checks every field; this reads what it accepts, and
    RelationGraph checks the ids."""
    import json
    import os

    import numpy as np

    with open(path) as f:
        document = json.load(f)
    if document.get("format") != "sparsekgen-graph":
        raise ValueError(f"{path}: not a sparsekgen graph document (format {document.get('format')!r})")
    folder = os.path.dirname(os.path.abspath(path))
    edges = np.fromfile(os.path.join(folder, document["edges"]), dtype="<i4")
    if edges.size % 3:
        raise ValueError(f"{document['edges']}: {edges.size * 4} bytes is not a whole number of 12-byte edge rows")
    edges = torch.from_numpy(edges.reshape(-1, 3).astype(np.int64))
    features = None
    if "features" in document:
        spec = document["features"]
        values = np.fromfile(os.path.join(folder, spec["file"]), dtype="<f4")
        features = torch.from_numpy(values.reshape(-1, int(spec["channels"])))
    return (edges[:, :2].t().contiguous(), edges[:, 2].contiguous(), int(document["nodes"]),
            int(document["relations"]), features)
