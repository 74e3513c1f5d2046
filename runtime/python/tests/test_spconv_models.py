"""spconv models converted by ``sparsekgen.from_spconv``, on the CPU path.

spconv does not install without CUDA, so its modules are stood in for by modules carrying the
attributes spconv 2.3's SparseConvolution has (kernel_size, stride, padding, dilation in its spatial
order; subm, inverse, transposed, indice_key; a KRSC weight); the converted model must compute
spconv's convolutions by their definition (test_checkpoints.spconv_reference). The real spconv runs
against the conversion in test_peers.py on the GPU machine."""

import pytest
import torch

from test_checkpoints import spconv_reference, zyx
from conftest import random_cloud
import sparsekgen


class SparseConvolution(torch.nn.Module):
    def __init__(self, cin, cout, kernel_zyx, stride=1, padding=0, subm=False, inverse=False, transposed=False,
                 indice_key=None, bias=False, seed=0):
        super().__init__()
        triple = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * 3
        self.ndim, self.groups, self.in_channels, self.out_channels = 3, 1, cin, cout
        self.kernel_size, self.stride, self.padding = triple(kernel_zyx), triple(stride), triple(padding)
        self.dilation = [1, 1, 1]
        self.subm, self.inverse, self.transposed, self.indice_key = subm, inverse, transposed, indice_key
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.nn.Parameter(torch.randn(cout, *self.kernel_size, cin, generator=g, dtype=torch.float64))
        self.bias = torch.nn.Parameter(torch.randn(cout, generator=g, dtype=torch.float64)) if bias else None


class SparseSequential(torch.nn.Module):
    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)


def test_a_converted_model_computes_spconvs_convolutions():
    coords = random_cloud(300, 12, batches=2, seed=3)
    feats = torch.randn(len(coords), 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    stem = SparseConvolution(3, 8, (3, 1, 3), subm=True, seed=1)
    down = SparseConvolution(8, 16, 2, stride=2, indice_key="down1", seed=2)
    pointwise = SparseConvolution(16, 16, 1, subm=True, seed=3)
    up = SparseConvolution(16, 4, 2, inverse=True, indice_key="down1", seed=4)
    model = SparseSequential(stem, torch.nn.ReLU(), SparseSequential(down, pointwise), up)
    ours = sparsekgen.from_spconv(model).double()
    assert isinstance(ours[2], torch.nn.Sequential) and ours[0].kernel_size == (3, 1, 3)
    assert ours[3].transposed and ours[3].stride == (2, 2, 2)
    y = ours(sparsekgen.SparseTensor(feats, coords))

    def features(result):
        return torch.stack(list(result.values())), torch.tensor(list(result))

    fine = zyx(coords)
    x = spconv_reference(fine, feats, stem.weight.detach(), 1)
    x = {c: x[c].clamp(min=0) for c in map(tuple, fine.tolist())}  # submanifold keeps the inputs; ReLU
    coarse = spconv_reference(torch.tensor(list(x)), torch.stack(list(x.values())), down.weight.detach(), 2)
    values, voxels = features(coarse)
    coarse = spconv_reference(voxels, values, pointwise.weight.detach(), 1)
    values, voxels = features(coarse)
    expected = spconv_reference(voxels, values, up.weight.detach(), 2, inverse_of=fine)
    assert len(y.feats) == len(expected)
    for row, voxel in enumerate(zyx(y.voxels).tolist()):
        torch.testing.assert_close(y.feats[row], expected[tuple(voxel)], rtol=1e-9, atol=1e-9)


def test_batch_norm_statistics_and_the_training_mode_carry_over():
    bn = torch.nn.BatchNorm1d(8, eps=1e-3, momentum=0.01)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2)
    model = SparseSequential(SparseConvolution(3, 8, 3, subm=True, bias=True), bn, torch.nn.LeakyReLU(0.2)).float()
    model.eval()
    ours = sparsekgen.from_spconv(model)
    assert not ours.training
    assert (ours[1].eps, ours[1].momentum) == (1e-3, 0.01)
    assert torch.equal(ours[1].running_var, bn.running_var) and torch.equal(ours[0].bias, getattr(model, "0").bias)
    assert ours[2].negative_slope == 0.2


@pytest.mark.parametrize("model,message", [
    (lambda: SparseSequential(SparseConvolution(3, 8, 3, stride=2, padding=1)),
     r"'0' \(SparseConvolution\) has kernel \(3, 3, 3\), stride \(2, 2, 2\), padding \(1, 1, 1\)"),
    (lambda: SparseSequential(SparseConvolution(3, 8, 3)), "regular convolution of stride 1"),
    (lambda: SparseSequential(SparseConvolution(3, 8, 2, stride=2, transposed=True)), "generates output voxels"),
    (lambda: SparseSequential(SparseConvolution(3, 8, 2, inverse=True, indice_key="k")),
     "inverts indice_key 'k', which no strided convolution"),
    (lambda: SparseSequential(SparseConvolution(3, 8, 2, subm=True)), "even kernel"),
    (lambda: SparseSequential(torch.nn.Dropout()), r"'0' \(Dropout\) has no sparsekgen equivalent"),
    (lambda: SparseSequential(SparseSequential(), torch.nn.Module()), "no sparsekgen equivalent"),
])
def test_what_does_not_convert_is_refused_naming_the_module(model, message):
    with pytest.raises(ValueError, match=message):
        sparsekgen.from_spconv(model())


def test_a_module_with_its_own_forward_is_refused():
    class Backbone(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = SparseConvolution(3, 8, 3, subm=True)

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(ValueError, match=r"'1' \(Backbone\) has a forward of its own"):
        sparsekgen.from_spconv(SparseSequential(torch.nn.ReLU(), Backbone()))


def test_an_spconv_tensor_becomes_a_sparse_tensor_in_xyz():
    class SparseConvTensor:  # the two fields from_spconv_tensor reads
        indices = torch.tensor([[0, 5, 6, 7], [1, 1, 2, 3]], dtype=torch.int32)
        features = torch.ones(2, 3)

    x = sparsekgen.from_spconv_tensor(SparseConvTensor())
    assert x.coords.tolist() == [[0, 7, 6, 5], [1, 3, 2, 1]]
    assert sparsekgen.from_spconv_tensor(SparseConvTensor(), spatial_order="xyz").coords.tolist() == \
        [[0, 5, 6, 7], [1, 1, 2, 3]]
