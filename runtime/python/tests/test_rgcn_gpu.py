"""Relational graph convolution on the GPU path (the graph bundle's kernels) against the CPU path's
float64 layer with the same parameters: outputs and the gradients of x, the weights (with bases),
the root weight and the bias, under every normalisation and in f16, bf16 and f32; autocast; and
PyTorch Geometric's RGCNConv and FastRGCNConv on the same GPU with the same state dict. Every test
is skipped, with the reason, where the GPU path or its graph bundle is missing."""

import copy

import pytest
import torch

from conftest import random_relational_graph
from sparsekgen import nn
from sparsekgen.graph import graph_unavailable_reason

REASON = graph_unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"graph GPU path unavailable: {REASON}")

NODES, EDGES, RELATIONS = 3000, 20000, 23
# Worst error relative to the reference's largest magnitude: fp16 and bf16 operands, exact fp32.
TOLERANCE = {torch.float16: 4e-3, torch.bfloat16: 3e-2, torch.float32: 1e-5}


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    scale = expected.abs().max().item()
    return (actual.double().cpu() - expected.double().cpu()).abs().max().item() / (scale if scale else 1.0)


def run(conv, x, edge_index, edge_type, seed=0, mask=None):
    """Output and gradients of every input and parameter for a random output gradient (times `mask`
    where given)."""
    x = x.detach().clone().requires_grad_(True)
    out = conv(x, edge_index, edge_type)
    dy = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if mask is not None:
        dy = dy * mask.cpu()
    out.backward(dy.to(out.device, out.dtype))
    grads = {name: p.grad.detach().clone() for name, p in conv.named_parameters()}
    return out.detach(), x.grad.detach(), grads


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("aggr", ["add", "mean", "symmetric"])
@pytest.mark.parametrize("channels", [(32, 16), (5, 3)])
def test_forward_and_backward_match_the_float64_layer(dtype, aggr, channels):
    """The GPU layer with its fused ReLU against the float64 layer without it: outputs after a ReLU,
    gradients for the GPU's ReLU mask (an output the rounding puts on the other side of zero would
    otherwise move its row's gradient by a whole dy W term)."""
    cin, cout = channels
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=1)
    cpu = nn.RGCNConv(cin, cout, RELATIONS, num_bases=4, aggr=aggr).double()
    with torch.no_grad():
        cpu.bias.uniform_(-0.5, 0.5)
    x = torch.randn(NODES, cin, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).to(dtype).double()
    # The GPU layer's weights in the kernels' type, the reference's the same values in float64.
    for p in cpu.parameters():
        p.data = p.data.to(dtype).double()
    gpu_conv = copy.deepcopy(cpu).to("cuda", torch.float32)
    gpu_conv.act = "relu"
    out, dx, grads = run(gpu_conv, x.to("cuda", dtype), edge_index.cuda(), edge_type.cuda())
    assert out.dtype == dtype and torch.isfinite(out).all()
    expected_out, expected_dx, expected_grads = run(cpu, x, edge_index, edge_type, mask=(out > 0).double())
    tolerance = TOLERANCE[dtype]
    assert relative_error(out, expected_out.clamp(min=0)) <= tolerance
    assert relative_error(dx, expected_dx) <= tolerance * 2
    for name, expected in expected_grads.items():
        assert relative_error(grads[name], expected) <= tolerance * 4, name


def test_autocast_runs_the_layer_in_half_precision():
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=3)
    conv = nn.RGCNConv(16, 8, RELATIONS).cuda()
    x = torch.randn(NODES, 16, device="cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        out = conv(x, edge_index.cuda(), edge_type.cuda())
    assert out.dtype == torch.float16
    expected = conv(x, edge_index.cuda(), edge_type.cuda())
    assert relative_error(out, expected) <= 4e-3


@pytest.mark.parametrize("layer", ["RGCNConv", "FastRGCNConv"])
def test_matches_pytorch_geometric_on_the_gpu(layer):
    pyg = pytest.importorskip("torch_geometric.nn", reason="torch_geometric is not installed here")
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=4)
    edge_index, edge_type = edge_index.cuda(), edge_type.cuda()
    theirs = getattr(pyg, layer)(32, 16, RELATIONS, num_bases=5).cuda()
    with torch.no_grad():
        theirs.bias.uniform_(-0.5, 0.5)
    ours = nn.RGCNConv(32, 16, RELATIONS, num_bases=5).cuda()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(NODES, 32, device="cuda")
    expected_out, expected_dx, expected_grads = run(theirs, x, edge_index, edge_type)
    out, dx, grads = run(ours, x, edge_index, edge_type)
    assert relative_error(out, expected_out) <= 1e-5
    assert relative_error(dx, expected_dx) <= 1e-5
    for name, expected in expected_grads.items():
        assert relative_error(grads[name], expected) <= 1e-5, name


def test_out_of_range_edges_are_refused_on_the_device():
    from sparsekgen import RelationGraph
    edge_index, edge_type = random_relational_graph(NODES, EDGES, RELATIONS, seed=5)
    edge_index[0, 17] = NODES
    with pytest.raises(ValueError, match=rf"edge row 17 \(src {NODES}, .*\): src {NODES} is outside \[0, {NODES}\)"):
        RelationGraph(edge_index.cuda(), edge_type.cuda(), NODES, RELATIONS)
