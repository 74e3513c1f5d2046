"""Sparse convolution on the CPU path against torch's dense conv3d, its adjoints and autograd."""

import math

import pytest
import torch
from torch.autograd import gradcheck

from conftest import random_cloud
from sparsekgen import SparseTensor, nn
from sparsekgen.functional import SparseConvolution, conv3d
from sparsekgen.maps import forward_map, generative_map, transposed_map


def dense_weight(weight: torch.Tensor, size: int) -> torch.Tensor:
    """[volume, Cin, Cout] in TorchSparse order (x fastest for odd sizes, z fastest for even) as
    conv3d's [Cout, Cin, X, Y, Z]."""
    cin, cout = weight.shape[1], weight.shape[2]
    grid = weight.reshape(size, size, size, cin, cout)  # odd: [z][y][x], even: [x][y][z]
    grid = grid.permute(2, 1, 0, 3, 4) if size % 2 else grid
    return grid.permute(4, 3, 0, 1, 2).contiguous()


def dense_at_outputs(x: SparseTensor, weight: torch.Tensor, size: int, outputs: torch.Tensor, extent: int,
                     **conv):
    """torch's dense conv3d of ``x`` on an [extent]^3 grid, read at the ``outputs`` voxels."""
    dense = torch.nn.functional.conv3d(x.dense((extent,) * 3).permute(0, 4, 1, 2, 3), dense_weight(weight, size),
                                       **conv)
    c = outputs.long()
    return dense.permute(0, 2, 3, 4, 1)[c[:, 0], c[:, 1], c[:, 2], c[:, 3]]


def features(rows: int, channels: int, seed: int) -> torch.Tensor:
    return torch.randn(rows, channels, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("size,dilation", [(3, 1), (5, 1), (3, 2)])
def test_submanifold_equals_dense_conv_at_the_occupied_voxels(cloud, size, dilation):
    x = SparseTensor(features(len(cloud), 4, 2), cloud)
    weight = torch.randn(size**3, 4, 6, dtype=torch.float64)
    y = conv3d(x, weight, kernel_size=size, dilation=dilation)
    assert torch.equal(y.coords, cloud)
    expected = dense_at_outputs(x, weight, size, cloud, 9, padding=dilation * (size // 2), dilation=dilation)
    torch.testing.assert_close(y.feats, expected, rtol=1e-12, atol=1e-12)


def test_strided_convolution_equals_dense_strided_conv(cloud):
    x = SparseTensor(features(len(cloud), 3, 3), cloud)
    weight = torch.randn(8, 3, 5, dtype=torch.float64)
    y = conv3d(x, weight, kernel_size=2, stride=2)
    assert y.stride == (2, 2, 2)
    coarse = torch.unique(torch.cat([cloud[:, :1], torch.div(cloud[:, 1:], 2, rounding_mode="floor")], 1), dim=0)
    assert torch.equal(y.voxels, coarse.int())
    assert torch.equal(y.coords[:, 1:], 2 * y.voxels[:, 1:])  # coordinates stay in the input's units
    expected = dense_at_outputs(x, weight, 2, y.voxels, 10, stride=2)
    torch.testing.assert_close(y.feats, expected, rtol=1e-12, atol=1e-12)


def test_transposed_convolution_is_the_adjoint_of_the_strided_one(cloud):
    x = SparseTensor(features(len(cloud), 3, 4), cloud)
    weight = torch.randn(8, 3, 5, dtype=torch.float64)
    down = conv3d(x, weight, kernel_size=2, stride=2)
    dy = features(len(down), 5, 5)
    # <conv(x), dy> = <x, conv^T(dy)>: the transposed convolution with the weights transposed.
    up = conv3d(down.replace(dy), weight.transpose(1, 2).contiguous(), kernel_size=2, stride=2, transposed=True)
    assert torch.equal(up.coords, cloud) and up.stride == (1, 1, 1)
    torch.testing.assert_close((down.feats * dy).sum(), (x.feats * up.feats).sum(), rtol=1e-12, atol=0)


def test_generative_transposed_convolution_reaches_every_offset():
    coords = torch.tensor([[0, 2, 2, 2], [0, 6, 2, 0]], dtype=torch.int32)  # voxels (1, 1, 1) and (3, 1, 0)
    x = SparseTensor(torch.ones(2, 1, dtype=torch.float64), coords, stride=2)
    y = conv3d(x, torch.ones(8, 1, 1, dtype=torch.float64), kernel_size=2, stride=2, transposed=True,
               generative=True)
    assert y.stride == (1, 1, 1) and len(y) == 16  # 2 inputs x 8 offsets, none shared
    assert torch.equal(y.feats, torch.ones(16, 1, dtype=torch.float64))


def maps_of_every_kind(cloud):
    x = SparseTensor(features(len(cloud), 2, 6), cloud)
    down, _ = forward_map(x, (2, 2, 2), (2, 2, 2), (1, 1, 1))
    coarse = conv3d(x, torch.zeros(8, 2, 2, dtype=torch.float64), kernel_size=2, stride=2)
    return {
        "submanifold": forward_map(x, (3, 3, 3), (1, 1, 1), (1, 1, 1))[0],
        "strided": down,
        "transposed": transposed_map(coarse, (2, 2, 2), (2, 2, 2), (1, 1, 1))[0],
        "generative": generative_map(coarse, (3, 3, 3), (2, 2, 2), (1, 1, 1))[0],
    }


@pytest.mark.parametrize("kind", ["submanifold", "strided", "transposed", "generative"])
def test_gradients_match_finite_differences(kind):
    kmap = maps_of_every_kind(random_cloud(40, 4, seed=7))[kind]
    x = features(kmap.input_count, 2, 8).requires_grad_()
    w = torch.randn(kmap.volume, 2, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda a, b: SparseConvolution.apply(a, b, kmap), (x, w))


def test_layers_of_one_geometry_share_one_map(cloud):
    x = SparseTensor(features(len(cloud), 4, 9), cloud)
    a, b = nn.Conv3d(4, 4).double(), nn.Conv3d(4, 4).double()
    b(a(x))
    assert len(x._cache.maps) == 1


def test_a_small_unet_learns_on_the_cpu():
    torch.manual_seed(0)
    coords = random_cloud(400, 8, batches=2, seed=3)
    x = SparseTensor(features(len(coords), 3, 10).float(), coords)
    labels = (coords[:, 1] > 3).long() + 2 * (coords[:, 3] > 3).long()

    class UNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Sequential(nn.Conv3d(3, 8), nn.BatchNorm(8), nn.ReLU(True))
            self.down = torch.nn.Sequential(nn.Conv3d(8, 16, 2, stride=2), nn.BatchNorm(16), nn.ReLU(True))
            self.up = nn.Conv3d(16, 8, 2, stride=2, transposed=True)
            self.head = nn.Conv3d(16, 4, 1, bias=True)

        def forward(self, x):
            skip = self.stem(x)
            up = self.up(self.down(skip))
            return self.head(up.replace(torch.cat([up.feats, skip.feats], 1))).feats

    model = UNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert math.isfinite(losses[-1]) and losses[-1] < 0.5 * losses[0], losses


def test_bad_inputs_are_refused_with_what_is_wrong(cloud):
    x = SparseTensor(features(len(cloud), 4, 11), cloud)
    with pytest.raises(ValueError, match="input has 4 channels"):
        nn.Conv3d(3, 4)(x)
    with pytest.raises(ValueError, match="cannot upsample"):
        nn.Conv3d(4, 4, 2, stride=2, transposed=True)(x)
    with pytest.raises(ValueError, match="generative"):
        nn.Conv3d(4, 4, generative=True)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv3d(4, 4, kernel_size=0)
    repeated = torch.cat([cloud, cloud[:1]])
    with pytest.raises(ValueError, match="row"):
        nn.Conv3d(4, 4)(SparseTensor(features(len(repeated), 4, 12), repeated))
