"""A trained graph model as a graph network description and its executor weights
(``sparsekgen.export_graph``), for the C++ GraphNetworkExecutor and ``sparsekgen-run-graph-network``
(docs/graphs.md); and graph documents written from edge tensors (``save_graph``)."""

from __future__ import annotations

import json
import os
from typing import Optional

import torch

from sparsekgen.export import DTYPES, write_description_and_weights
# RGCNConv's aggregations (sparsekgen's and PyG's spellings) as network descriptions spell them.
from sparsekgen.nn.rgcn import _AGGREGATIONS


def _is_rgcn(module: torch.nn.Module) -> bool:
    """sparsekgen.nn.RGCNConv and PyG's RGCNConv / FastRGCNConv: the same parameters and fields."""
    return all(hasattr(module, field) for field in ("weight", "root", "bias", "num_relations", "aggr", "out_channels"))


def _relation_weights(module: torch.nn.Module) -> torch.Tensor:
    """[num_relations, in, out]: W_r, through the basis coefficients where the module has them."""
    comp = getattr(module, "comp", None)
    if comp is None:
        return module.weight
    return torch.einsum("rb,bio->rio", comp, module.weight)


def _layers(model) -> list:
    if isinstance(model, torch.nn.Sequential) or not isinstance(model, torch.nn.Module):
        return list(model)
    return [model]


def describe_graph_model(model, *, input_channels: int, num_relations: int, dtype: str = "f32",
                         name: str = "graph_model"):
    """The description of a sequential graph model and its training parameters by description name.

    ``model``: an ``nn.Sequential`` (or a list) of RGCNConv-like modules, ``ReLU``, ``BatchNorm1d``
    (affine, with running statistics) and ``Dropout`` / ``Identity`` (dropped: inference)."""
    if dtype not in DTYPES:
        raise ValueError(f"export_graph: dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    nodes, parameters, eps = [], {}, set()
    current, channels = "input", input_channels

    def put(key, tensor):
        parameters[key] = tensor.detach().to("cpu", torch.float32).contiguous().numpy()

    def add(node):
        nonlocal current
        node["name"] = f"{len(nodes)}.{node['op']}"
        if node["op"] != "concat":
            node["input"] = current
        nodes.append(node)
        current = node["name"]
        return node["name"]

    for index, module in enumerate(_layers(model)):
        where = f"layer {index} ({type(module).__name__})"
        if _is_rgcn(module):
            if module.num_relations != num_relations:
                raise ValueError(f"export_graph: {where} has {module.num_relations} relations, the model "
                                 f"{num_relations}")
            aggr = _AGGREGATIONS.get(module.aggr)
            if aggr is None:
                raise ValueError(f"export_graph: {where} aggregates by {module.aggr!r}, which graph networks do not "
                                 f"have ({', '.join(_AGGREGATIONS)})")
            weight = _relation_weights(module)
            if weight.dim() != 3:
                raise ValueError(f"export_graph: {where} has block-diagonal weights {list(weight.shape)}; graph "
                                 f"networks take full [relations, in, out] weights (or bases)")
            if weight.shape[1] != channels:
                raise ValueError(f"export_graph: {where} takes {weight.shape[1]} channels, its input has {channels}")
            key = add({"op": "rgcn", "out_channels": int(module.out_channels), "aggregation": aggr,
                       "root": module.root is not None, "bias": module.bias is not None})
            slabs = [weight] + ([module.root.unsqueeze(0)] if module.root is not None else [])
            put(f"{key}.weight", torch.cat(slabs, 0))
            if module.bias is not None:
                put(f"{key}.bias", module.bias)
            channels = int(module.out_channels)
            if getattr(module, "act", None) == "relu":
                add({"op": "relu"})
        elif isinstance(module, torch.nn.ReLU):
            add({"op": "relu"})
        elif isinstance(module, torch.nn.BatchNorm1d):
            if not module.affine or module.running_mean is None:
                raise ValueError(f"export_graph: {where} needs affine=True and running statistics")
            if module.num_features != channels:
                raise ValueError(f"export_graph: {where} normalises {module.num_features} channels, its input has "
                                 f"{channels}")
            key = add({"op": "batch_norm"})
            for entry in ("weight", "bias", "running_mean", "running_var"):
                put(f"{key}.{entry}", getattr(module, entry))
            eps.add(module.eps)
        elif isinstance(module, (torch.nn.Dropout, torch.nn.Identity)):
            continue
        else:
            raise ValueError(f"export_graph: {where} has no graph-network op (RGCNConv, ReLU, BatchNorm1d, Dropout, "
                             f"Identity)")
    if current == "input":
        raise ValueError("export_graph: the model has no layer")
    if len(eps) > 1:
        raise ValueError(f"export_graph: batch norms with different eps {sorted(eps)} (folding takes one)")
    description = {"name": name, "description": f"{name}, exported by sparsekgen.export_graph", "dtype": dtype,
                   "input_channels": input_channels, "graph": {"relations": num_relations}, "nodes": nodes,
                   "outputs": [current]}
    return description, parameters, (eps.pop() if eps else 1e-5)


def export_graph(model, description_path: str, weights_path: str, *, input_channels: int, num_relations: int,
                 dtype: str = "f32", name: Optional[str] = None) -> dict:
    """Writes a sequential graph model (``describe_graph_model``) as a graph network description
    (``description_path``) and the weights GraphNetworkExecutor reads (``weights_path``,
    safetensors: ``<rgcn>.weight`` [relations (+1 with a root), Cin, Cout] with W_root last, bases
    multiplied out; ``<rgcn>.bias``; batch norm folded). Both files appear whole or not at all.
    Returns the description."""
    description, parameters, eps = describe_graph_model(
        model, input_channels=input_channels, num_relations=num_relations, dtype=dtype,
        name=name or os.path.splitext(os.path.basename(description_path))[0])
    write_description_and_weights(description, description_path, parameters, weights_path, eps)
    return description


def save_graph(path: str, edge_index: torch.Tensor, edge_type: torch.Tensor, num_nodes: int, num_relations: int,
               features: Optional[torch.Tensor] = None, name: Optional[str] = None) -> None:
    """A graph document (schemas/graph.schema.json) at ``path`` with its edges beside it
    (``<stem>.edges.i32``: int32 rows src, dst, relation) and, given features [nodes, C], those
    (``<stem>.features.f32``); ``sparsekgen.graph.load_graph`` and the C++ loader read it. Each file
    is written under a temporary name and renamed, the document last, so a document that exists
    names whole files."""
    folder, stem = os.path.dirname(os.path.abspath(path)), os.path.splitext(os.path.basename(path))[0]
    if edge_index.dim() != 2 or edge_index.shape[0] != 2 or edge_type.shape != (edge_index.shape[1],):
        raise ValueError(f"save_graph: edge_index [2, E] and edge_type [E], not {list(edge_index.shape)} and "
                         f"{list(edge_type.shape)}")
    rows = torch.stack([edge_index[0], edge_index[1], edge_type], 1).to("cpu", torch.int32).contiguous()
    document = {"format": "sparsekgen-graph", "version": 1, "name": name or stem, "nodes": int(num_nodes),
                "relations": int(num_relations), "edges": f"{stem}.edges.i32"}
    if features is not None and (features.dim() != 2 or features.shape[0] != num_nodes):
        raise ValueError(f"save_graph: features [{num_nodes}, C], not {list(features.shape)}")

    def write_whole(name, write):
        partial = os.path.join(folder, name + ".partial")
        try:
            write(partial)
            os.replace(partial, os.path.join(folder, name))
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise

    write_whole(document["edges"], lambda p: rows.numpy().astype("<i4").tofile(p))
    if features is not None:
        document["features"] = {"file": f"{stem}.features.f32", "channels": int(features.shape[1])}
        values = features.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4")
        write_whole(document["features"]["file"], values.tofile)

    def write_document(p):
        with open(p, "w") as f:
            json.dump(document, f, indent=1)
            f.write("\n")

    write_whole(os.path.basename(path), write_document)
