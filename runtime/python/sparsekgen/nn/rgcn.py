"""The relational graph convolution module (R-GCN), with PyTorch Geometric's RGCNConv arguments."""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch

from sparsekgen.graph import RelationGraph, rgcn

_AGGREGATIONS = {"mean": "mean", "add": "sum", "sum": "sum", "symmetric": "symmetric"}


class RGCNConv(torch.nn.Module):
    """R-GCN layer: out_i = sum_r agg_{j in N_r(i)} x_j W_r + x_i W_root + b.

    Arguments and parameters as ``torch_geometric.nn.RGCNConv`` (2.x), so its state dicts load:
    ``weight`` [num_relations, in, out] (or [num_bases, in, out] with ``comp`` [num_relations,
    num_bases]: W_r = sum_b comp[r, b] weight[b], basis decomposition), ``root`` [in, out], ``bias``
    [out]. ``aggr``: "mean" (PyG's default), "add", or "symmetric" (1/sqrt(|N_r(i)| |N_r(j)|)).
    ``act="relu"`` fuses a ReLU into the kernels' epilogue.

    ``forward(x, edge_index, edge_type)`` takes PyG's edges (``edge_index[0]`` sources,
    ``edge_index[1]`` destinations) or a prepared ``RelationGraph`` as ``edge_index`` (then
    ``edge_type`` is None). The graph of the last edge tensors seen is kept and reused while those
    tensors are unchanged, so a model's layers and steps build it once.
    """

    def __init__(self, in_channels: int, out_channels: int, num_relations: int, num_bases: Optional[int] = None,
                 aggr: str = "mean", root_weight: bool = True, bias: bool = True, act: Optional[str] = None):
        super().__init__()
        if in_channels < 1 or out_channels < 1 or num_relations < 1:
            raise ValueError(f"RGCNConv needs positive sizes, not in {in_channels}, out {out_channels}, "
                             f"relations {num_relations}")
        if aggr not in _AGGREGATIONS:
            raise ValueError(f"RGCNConv: aggr {aggr!r} is not one of {', '.join(_AGGREGATIONS)}")
        if act not in (None, "relu"):
            raise ValueError(f"RGCNConv: act {act!r}: None or 'relu'")
        self.in_channels, self.out_channels, self.num_relations = in_channels, out_channels, num_relations
        self.num_bases, self.aggr, self.act = num_bases, aggr, act
        if num_bases is not None:
            if not 1 <= num_bases:
                raise ValueError(f"RGCNConv: num_bases {num_bases} must be positive")
            self.weight = torch.nn.Parameter(torch.empty(num_bases, in_channels, out_channels))
            self.comp = torch.nn.Parameter(torch.empty(num_relations, num_bases))
        else:
            self.weight = torch.nn.Parameter(torch.empty(num_relations, in_channels, out_channels))
            self.register_parameter("comp", None)
        self.root = torch.nn.Parameter(torch.empty(in_channels, out_channels)) if root_weight else None
        self.bias = torch.nn.Parameter(torch.empty(out_channels)) if bias else None
        self._graph_key: Optional[Tuple] = None
        self._graph: Optional[RelationGraph] = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights, zero bias (PyG's initialisation)."""
        with torch.no_grad():
            for parameter in (self.weight, self.comp, self.root):
                if parameter is not None:
                    fan_in, fan_out = parameter.shape[-2], parameter.shape[-1]
                    bound = math.sqrt(6.0 / (fan_in + fan_out))
                    parameter.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.zero_()

    def relation_weights(self) -> torch.Tensor:
        """W [num_relations, in, out]: the weights, or the bases combined by ``comp``."""
        if self.comp is None:
            return self.weight
        return (self.comp @ self.weight.reshape(self.num_bases, -1)).reshape(self.num_relations, self.in_channels,
                                                                             self.out_channels)

    def graph(self, edge_index, edge_type: Optional[torch.Tensor], num_nodes: int) -> RelationGraph:
        """The prepared graph of these edges for this layer's aggregation (kept while they are unchanged)."""
        if isinstance(edge_index, RelationGraph):
            g = edge_index
            if g.normalization != _AGGREGATIONS[self.aggr] or g.self_term != (self.root is not None):
                raise ValueError(f"RGCNConv(aggr={self.aggr!r}, root_weight={self.root is not None}): the graph was "
                                 f"prepared for {g.normalization} aggregation, self term {g.self_term}")
            return g
        if edge_type is None:
            raise ValueError("RGCNConv: edge_type is required with an edge_index tensor")
        key = (edge_index.data_ptr(), edge_index.shape, edge_index._version, edge_type.data_ptr(), edge_type._version,
               edge_index.device, num_nodes)
        if key != self._graph_key:
            self._graph = RelationGraph(edge_index, edge_type, num_nodes, self.num_relations,
                                        _AGGREGATIONS[self.aggr], self.root is not None)
            self._graph_key = key
        return self._graph

    def forward(self, x: torch.Tensor, edge_index, edge_type: Optional[torch.Tensor] = None) -> torch.Tensor:
        if x is None or x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"RGCNConv({self.in_channels}, {self.out_channels}): x must be float [nodes, "
                             f"{self.in_channels}] (one-hot inputs as an embedding), not "
                             f"{None if x is None else list(x.shape)}")
        g = self.graph(edge_index, edge_type, x.shape[0])
        weight = self.relation_weights()
        if self.root is not None:
            weight = torch.cat([weight, self.root.unsqueeze(0)])
        return rgcn(x, weight, self.bias, g, relu=self.act == "relu")

    def extra_repr(self) -> str:
        bases = f", num_bases={self.num_bases}" if self.num_bases is not None else ""
        act = f", act={self.act!r}" if self.act else ""
        return (f"{self.in_channels}, {self.out_channels}, num_relations={self.num_relations}{bases}, "
                f"aggr={self.aggr!r}{act}")
