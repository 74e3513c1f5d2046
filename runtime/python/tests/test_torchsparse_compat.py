"""TorchSparse's own backbones on sparsekgen.torchsparse with the import changed and nothing else.

TorchSparse's code is not part of this project: the test reads it from a checkout named by
SPARSEKGEN_TORCHSPARSE_SOURCE (the repository root of mit-han-lab/torchsparse 2.1) and is skipped,
with that reason, where none is given."""

import math
import os

import pytest
import torch

from conftest import backbones_on_sparsekgen, random_cloud
import sparsekgen
from sparsekgen import _cpu
from sparsekgen.torchsparse import SparseTensor
from sparsekgen.torchsparse import nn as spnn

SOURCE = os.environ.get("SPARSEKGEN_TORCHSPARSE_SOURCE")


def test_conv3d_holds_its_kernel_as_torchsparse_does():
    assert spnn.Conv3d(4, 8, 1).kernel.shape == (4, 8)
    assert spnn.Conv3d(4, 8, 1, stride=2).kernel.shape == (1, 4, 8)
    assert spnn.Conv3d(4, 8, (1, 3, 1)).kernel.shape == (3, 4, 8)
    bound = 1 / math.sqrt(8 * 8)
    assert spnn.Conv3d(4, 8, 2, stride=2, transposed=True).kernel.abs().max() <= bound
    with pytest.raises(ValueError, match="padding"):
        spnn.Conv3d(4, 8, 2, stride=2, padding=1)
    spnn.Conv3d(4, 8, 3, padding=1)  # TorchSparse's own padding of an odd kernel


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    if not SOURCE:
        pytest.skip("SPARSEKGEN_TORCHSPARSE_SOURCE does not name a TorchSparse 2.1 checkout")
    with backbones_on_sparsekgen(os.path.join(SOURCE, "torchsparse", "backbones"),
                                 tmp_path_factory.mktemp("peer")) as module:
        yield module


def scan(seed, channels=4):
    coords = random_cloud(700, 24, batches=2, seed=seed)
    return SparseTensor(torch.randn(len(coords), channels, generator=torch.Generator().manual_seed(seed)), coords)


@pytest.mark.parametrize("name,kwargs", [("SparseResNet21D", {}), ("SparseResUNet42", {"width_multiplier": 0.5})])
def test_torchsparse_backbones_train_and_export(backbones, tmp_path, name, kwargs):
    torch.manual_seed(0)
    model = getattr(backbones, name)(in_channels=4, **kwargs)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in range(2):
        optimizer.zero_grad()
        outputs = model(scan(step))
        outputs[-1].feats.square().mean().backward()
        for parameter_name, parameter in model.named_parameters():
            assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), parameter_name
        optimizer.step()
    x = scan(5)
    paths = str(tmp_path / "net.json"), str(tmp_path / "net.safetensors")
    description = sparsekgen.export(model, x, *paths, dtype="f32")
    model.eval()
    with torch.no_grad():
        expected = model(x)
    ran = _cpu.reference_network_forward(open(paths[0]).read(), paths[0], paths[1], x.coords, x.feats)
    for output, tensor in zip(description["outputs"], expected):
        torch.testing.assert_close(torch.from_numpy(ran[output]), tensor.feats.double(), rtol=1e-4, atol=1e-5)
