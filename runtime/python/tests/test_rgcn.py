"""Relational graph convolution on the CPU path: RGCNConv against the runtime's float64 R-GCN layer
(sparsekgen._cpu.rgcn_reference), under every normalisation, with bases, self term and bias; its
gradients; refusals of bad graphs; and PyTorch Geometric's RGCNConv with the same state dict where
torch_geometric is installed (skipped, saying so, where it is not)."""

import pytest
import torch
from torch.autograd import gradcheck

from conftest import random_relational_graph
from sparsekgen import RelationGraph, _cpu, nn, rgcn

NODES, EDGES, RELATIONS = 60, 400, 7


def reference(conv: nn.RGCNConv, x, edge_index, edge_type, normalization):
    edges = torch.stack([edge_index[0], edge_index[1], edge_type], 1).int().contiguous()
    weight = conv.relation_weights().detach().float().contiguous()
    root = conv.root.detach().float().contiguous() if conv.root is not None else torch.empty(0)
    bias = conv.bias.detach().float().contiguous() if conv.bias is not None else torch.empty(0)
    out = _cpu.rgcn_reference(edges.numpy(), NODES, RELATIONS, x.float().contiguous().numpy(), weight.numpy(),
                              root.numpy(), bias.numpy(), normalization)
    return torch.from_numpy(out)


@pytest.mark.parametrize("aggr,normalization", [("add", "sum"), ("mean", "mean"), ("symmetric", "symmetric")])
@pytest.mark.parametrize("bases", [None, 3])
def test_rgcnconv_matches_the_float64_layer(aggr, normalization, bases):
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=1)
    conv = nn.RGCNConv(5, 4, RELATIONS, num_bases=bases, aggr=aggr).double()
    with torch.no_grad():
        conv.bias.uniform_(-1, 1)
    x = torch.randn(NODES, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = conv(x, edge_index, edge_type)
    expected = reference(conv, x, edge_index, edge_type, normalization)
    assert torch.allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_root_weight_off_and_fused_relu():
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=3)
    conv = nn.RGCNConv(5, 4, RELATIONS, root_weight=False, bias=False, act="relu").double()
    x = torch.randn(NODES, 5, dtype=torch.float64)
    expected = reference(conv, x, edge_index, edge_type, "mean").clamp(min=0)
    assert torch.allclose(conv(x, edge_index, edge_type), expected, rtol=1e-6, atol=1e-6)


def test_gradients_of_every_parameter():
    edge_index, edge_type = random_relational_graph(20, 80, 3, seed=4)
    graph = RelationGraph(edge_index, edge_type, 20, 3, "symmetric", self_term=True)
    x = torch.randn(20, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: rgcn(x, w, b, graph), (x, w, b))


def test_the_graph_is_built_once_per_edge_tensors():
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=5)
    conv = nn.RGCNConv(5, 4, RELATIONS).double()
    x = torch.randn(NODES, 5, dtype=torch.float64)
    conv(x, edge_index, edge_type)
    first = conv._graph
    conv(x, edge_index, edge_type)
    assert conv._graph is first
    edge_type[0] = (edge_type[0] + 1) % RELATIONS  # an in-place change rebuilds it
    conv(x, edge_index, edge_type)
    assert conv._graph is not first


@pytest.mark.parametrize("field,index,value,message", [
    ("src", 0, 60, "edge row 0 (src 60"), ("dst", 1, -1, "dst -1 is outside [0, 60)"),
    ("relation", 2, 7, "relation 7 is outside [0, 7)")])
def test_out_of_range_edges_are_refused_naming_the_row(field, index, value, message):
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=6)
    if field == "relation":
        edge_type[index] = value
    else:
        edge_index[0 if field == "src" else 1, index] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[").replace(")", r"\)")):
        RelationGraph(edge_index, edge_type, NODES, RELATIONS)


def test_bad_arguments_are_refused():
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=7)
    with pytest.raises(ValueError, match="aggr 'max'"):
        nn.RGCNConv(5, 4, RELATIONS, aggr="max")
    with pytest.raises(ValueError, match="edge_type must be"):
        RelationGraph(edge_index, edge_type[:-1], NODES, RELATIONS)
    with pytest.raises(ValueError, match="no edges"):
        RelationGraph(edge_index[:, :0], edge_type[:0], NODES, RELATIONS)
    with pytest.raises(ValueError, match="x must be float"):
        nn.RGCNConv(5, 4, RELATIONS)(torch.randn(NODES, 6), edge_index, edge_type)


def test_matches_pytorch_geometric_with_the_same_state_dict():
    pyg = pytest.importorskip("torch_geometric.nn", reason="torch_geometric is not installed here")
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=8)
    x = torch.randn(NODES, 5, dtype=torch.float64)
    for bases in (None, 3):
        theirs = pyg.RGCNConv(5, 4, RELATIONS, num_bases=bases).double()
        with torch.no_grad():
            theirs.bias.uniform_(-1, 1)
        ours = nn.RGCNConv(5, 4, RELATIONS, num_bases=bases).double()
        ours.load_state_dict(theirs.state_dict())
        assert torch.allclose(ours(x, edge_index, edge_type), theirs(x, edge_index, edge_type), rtol=1e-9, atol=1e-9)


def test_graph_documents_load_as_edge_tensors(tmp_path):
    import json

    import numpy as np
    from sparsekgen.graph import load_graph
    rows = np.array([[0, 1, 0], [2, 1, 1], [1, 2, 1]], dtype="<i4")
    rows.tofile(tmp_path / "g.edges.i32")
    np.arange(6, dtype="<f4").tofile(tmp_path / "g.x.f32")
    (tmp_path / "g.json").write_text(json.dumps({
        "format": "sparsekgen-graph", "version": 1, "name": "g", "nodes": 3, "relations": 2,
        "edges": "g.edges.i32", "features": {"file": "g.x.f32", "channels": 2}}))
    edge_index, edge_type, nodes, relations, features = load_graph(str(tmp_path / "g.json"))
    assert edge_index.tolist() == [[0, 2, 1], [1, 1, 2]] and edge_type.tolist() == [0, 1, 1]
    assert (nodes, relations) == (3, 2) and features.shape == (3, 2)
    RelationGraph(edge_index, edge_type, nodes, relations)  # the ids check out
    rows[:2].tofile(tmp_path / "g.edges.i32")
    with open(tmp_path / "g.edges.i32", "ab") as f:
        f.write(b"\0\0\0\0")  # a partial row
    with pytest.raises(ValueError, match="not a whole number of 12-byte edge rows"):
        load_graph(str(tmp_path / "g.json"))
