"""A sequential graph model exported as a graph network (sparsekgen.export_graph): the description
and folded weights run by the runtime's float64 reference network against the model itself; the
same files on the C++ graph executor (sparsekgen-run-graph-network) where a GPU is present
(skipped, saying so, where it is not); graph documents written by save_graph; refusals."""

import json

import pytest
import torch

from conftest import NO_RUN_GRAPH_NETWORK, RUN_GRAPH_NETWORK, random_relational_graph, run_exported_graph
from sparsekgen import _cpu, export_graph, nn, save_graph
from sparsekgen.graph import load_graph

NODES, EDGES, RELATIONS = 80, 600, 5


def trained_model() -> torch.nn.Sequential:
    """Every op of a graph network: a fused ReLU, bases, no root, symmetric and sum aggregation, a
    batch norm with running statistics, dropout (dropped in inference)."""
    torch.manual_seed(4)
    model = torch.nn.Sequential(
        nn.RGCNConv(6, 16, RELATIONS, act="relu"),
        torch.nn.Dropout(0.5),
        nn.RGCNConv(16, 12, RELATIONS, num_bases=2, aggr="symmetric", root_weight=False),
        torch.nn.BatchNorm1d(12),
        torch.nn.ReLU(),
        nn.RGCNConv(12, 3, RELATIONS, aggr="add"))
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.RGCNConv) and module.bias is not None:
                module.bias.uniform_(-0.5, 0.5)
        bn = model[3]
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def model_forward(model, x, edge_index, edge_type):
    for module in model:
        x = module(x, edge_index, edge_type) if isinstance(module, nn.RGCNConv) else module(x)
    return x


def exported(tmp_path, dtype="f32"):
    model = trained_model()
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=5)
    x = torch.randn(NODES, 6, generator=torch.Generator().manual_seed(6))
    description = export_graph(model, str(tmp_path / "model.json"), str(tmp_path / "model.safetensors"),
                               input_channels=6, num_relations=RELATIONS, dtype=dtype)
    save_graph(str(tmp_path / "graph.json"), edge_index, edge_type, NODES, RELATIONS)
    with torch.no_grad():
        expected = model_forward(model.double(), x.double(), edge_index, edge_type)
    return description, x, expected


def test_export_matches_the_model_in_float64(tmp_path):
    description, x, expected = exported(tmp_path)
    ops = [node["op"] for node in description["nodes"]]
    assert ops == ["rgcn", "relu", "rgcn", "batch_norm", "relu", "rgcn"]
    assert description["graph"] == {"relations": RELATIONS}
    assert [n.get("aggregation") for n in description["nodes"] if n["op"] == "rgcn"] == ["mean", "symmetric", "sum"]
    text = (tmp_path / "model.json").read_text()
    outputs = _cpu.reference_graph_network_forward(text, "model.json", str(tmp_path / "model.safetensors"),
                                                   str(tmp_path / "graph.json"), x.numpy())
    out = torch.from_numpy(outputs[description["outputs"][0]])
    assert torch.allclose(out, expected, rtol=1e-5, atol=1e-5), (out - expected).abs().max()


def test_saved_graphs_load_back(tmp_path):
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=7)
    features = torch.randn(NODES, 3)
    save_graph(str(tmp_path / "g.json"), edge_index, edge_type, NODES, RELATIONS, features)
    loaded_index, loaded_type, nodes, relations, loaded_features = load_graph(str(tmp_path / "g.json"))
    assert torch.equal(loaded_index, edge_index) and torch.equal(loaded_type, edge_type)
    assert (nodes, relations) == (NODES, RELATIONS) and torch.equal(loaded_features, features)


class PygShapedRGCN(torch.nn.Module):
    """PyG's RGCNConv as the export sees it: bases in ``weight`` with ``comp``, no ``root``,
    ``aggr="add"``, and no ``act`` field."""

    def __init__(self, in_channels, out_channels, num_relations, num_bases):
        super().__init__()
        self.in_channels, self.out_channels, self.num_relations, self.aggr = (in_channels, out_channels,
                                                                            num_relations, "add")
        self.weight = torch.nn.Parameter(torch.randn(num_bases, in_channels, out_channels))
        self.comp = torch.nn.Parameter(torch.randn(num_relations, num_bases))
        self.register_parameter("root", None)
        self.bias = torch.nn.Parameter(torch.randn(out_channels))


def test_pyg_shaped_layers_export_with_bases_multiplied_out(tmp_path):
    torch.manual_seed(9)
    layer = PygShapedRGCN(4, 3, RELATIONS, num_bases=2)
    description = export_graph(layer, str(tmp_path / "m.json"), str(tmp_path / "m.safetensors"), input_channels=4,
                               num_relations=RELATIONS)
    assert description["nodes"] == [{"op": "rgcn", "out_channels": 3, "aggregation": "sum", "root": False,
                                     "bias": True, "name": "0.rgcn", "input": "input"}]
    # The reference network on the exported weights equals the layer's sum over relations.
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=10)
    save_graph(str(tmp_path / "g.json"), edge_index, edge_type, NODES, RELATIONS)
    x = torch.randn(NODES, 4, dtype=torch.float64)
    out = _cpu.reference_graph_network_forward((tmp_path / "m.json").read_text(), "m.json",
                                               str(tmp_path / "m.safetensors"), str(tmp_path / "g.json"),
                                               x.float().numpy())["0.rgcn"]
    with torch.no_grad():
        w = torch.einsum("rb,bio->rio", layer.comp, layer.weight).double()
        expected = layer.bias.double().expand(NODES, 3).clone()
        expected.index_add_(0, edge_index[1], torch.einsum("ei,eio->eo", x.float().double()[edge_index[0]],
                                                           w[edge_type]))
    assert torch.allclose(torch.from_numpy(out), expected, rtol=1e-5, atol=1e-5)
    # Block-diagonal weights (PyG's num_blocks) have no graph-network form.
    blocks = PygShapedRGCN(4, 4, RELATIONS, num_bases=1)
    blocks.comp = None
    blocks.weight = torch.nn.Parameter(torch.randn(RELATIONS, 2, 2, 2))
    with pytest.raises(ValueError, match="block-diagonal weights"):
        export_graph(blocks, str(tmp_path / "b.json"), str(tmp_path / "b.safetensors"), input_channels=4,
                     num_relations=RELATIONS)


def test_models_without_a_graph_network_op_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"layer 1 \(Tanh\) has no graph-network op"):
        export_graph(torch.nn.Sequential(nn.RGCNConv(4, 4, 2), torch.nn.Tanh()), str(tmp_path / "m.json"),
                     str(tmp_path / "m.safetensors"), input_channels=4, num_relations=2)
    with pytest.raises(ValueError, match="has 2 relations, the model 3"):
        export_graph(nn.RGCNConv(4, 4, 2), str(tmp_path / "m.json"), str(tmp_path / "m.safetensors"),
                     input_channels=4, num_relations=3)
    with pytest.raises(ValueError, match="takes 4 channels, its input has 5"):
        export_graph(nn.RGCNConv(4, 4, 2), str(tmp_path / "m.json"), str(tmp_path / "m.safetensors"),
                     input_channels=5, num_relations=2)
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "m.safetensors").exists()


@pytest.mark.skipif(RUN_GRAPH_NETWORK is None, reason=NO_RUN_GRAPH_NETWORK)
@pytest.mark.parametrize("dtype,tolerance", [("f32", 1e-5), ("f16", 5e-3)])
def test_export_runs_on_the_cpp_graph_executor(tmp_path, dtype, tolerance):
    description, x, expected = exported(tmp_path, dtype)
    if dtype == "f16":
        x = x.half().float()  # the features as the network's type holds them
        model = trained_model().double()
        edge_index, edge_type, *_ = load_graph(str(tmp_path / "graph.json"))
        with torch.no_grad():
            expected = model_forward(model, x.double(), edge_index, edge_type)
    outputs = run_exported_graph(tmp_path / "model.json", tmp_path / "model.safetensors", tmp_path / "graph.json", x,
                                 tmp_path)
    out = torch.from_numpy(outputs[description["outputs"][0]]).double().reshape(expected.shape)
    error = ((out - expected).norm() / expected.norm()).item()
    assert error <= tolerance, error
