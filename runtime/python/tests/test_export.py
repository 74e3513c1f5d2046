"""Export of a model to a network description and executor weights, run back by the runtime's
float64 reference of the description."""

import json
import os

import pytest
import torch

from conftest import NO_RUN_NETWORK, RUN_NETWORK, random_cloud, run_exported
import sparsekgen
from sparsekgen import SparseTensor, _cpu, nn


class Block(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv3d(channels, channels)
        self.bn = nn.BatchNorm(channels)
        self.relu = nn.ReLU(True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)) + x)


class UNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(nn.Conv3d(3, 8), nn.BatchNorm(8), nn.ReLU(True))
        self.down = torch.nn.Sequential(nn.Conv3d(8, 16, 2, stride=2), nn.BatchNorm(16), nn.ReLU(True), Block(16))
        self.up = nn.Conv3d(16, 8, 2, stride=2, transposed=True)
        # 5 classes: no kernel of the bundle takes them, so the executor runs the head padded to 8.
        self.head = nn.Conv3d(16, 5, 1, bias=True)

    def forward(self, x):
        skip = self.stem(x)
        return self.head(sparsekgen.cat([self.up(self.down(skip)), skip]))


def sample(seed=0):
    coords = random_cloud(500, 10, batches=2, seed=seed)
    feats = torch.randn(len(coords), 3, generator=torch.Generator().manual_seed(seed))
    return SparseTensor(feats, coords)


def trained_unet():
    torch.manual_seed(0)
    model = UNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for step in range(3):  # batch statistics move the running averages off 0 and 1
        x = sample(step)
        optimizer.zero_grad()
        model(x).feats.square().mean().backward()
        optimizer.step()
    return model


def test_the_exported_description_gives_the_models_output(tmp_path):
    model = trained_unet()
    x = sample(7)
    description_path, weights_path = tmp_path / "unet.json", tmp_path / "unet.safetensors"
    description = sparsekgen.export(model, x, str(description_path), str(weights_path), dtype="f32")
    assert [m["name"] for m in description["maps"]] == ["l0.subm333", "l0.down222", "l1.subm333", "l1.up222",
                                                            "l0.subm111"]
    assert description["outputs"] == ["head"]
    assert {n["op"] for n in description["nodes"]} == {"conv", "batch_norm", "relu", "add", "concat"}
    assert json.loads(description_path.read_text()) == description
    assert sorted(os.listdir(tmp_path)) == ["unet.json", "unet.safetensors"]
    model.eval()
    with torch.no_grad():
        expected = model(x).feats.double()
    outputs = _cpu.reference_network_forward(description_path.read_text(), str(description_path), str(weights_path),
                                             x.coords, x.feats)
    torch.testing.assert_close(torch.from_numpy(outputs["head"]), expected, rtol=1e-4, atol=1e-5)
    assert model.training is False  # eval() above; export itself restores the mode it found


def test_export_restores_training_mode_and_refuses_what_a_description_cannot_say(tmp_path):
    model = trained_unet()
    model.train()
    paths = (str(tmp_path / "m.json"), str(tmp_path / "m.safetensors"))
    sparsekgen.export(model, sample(), *paths)
    assert model.training

    class Leaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.act = nn.Conv3d(3, 4), nn.LeakyReLU()

        def forward(self, x):
            return self.act(self.conv(x))

    with pytest.raises(ValueError, match="LeakyReLU 'act' has no network-description op"):
        sparsekgen.export(Leaky(), sample(), *paths)

    class Untracked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(3, 4)

        def forward(self, x):
            y = self.conv(x)
            return y.replace(y.feats * 2)  # features changed outside any sparsekgen module

    with pytest.raises(ValueError, match="no sparsekgen module or op produced"):
        sparsekgen.export(Untracked(), sample(), *paths)
    with pytest.raises(ValueError, match="dtype"):
        sparsekgen.export(model, sample(), *paths, dtype="f64")


def test_a_failed_export_leaves_no_files(tmp_path):
    description_path = tmp_path / "m.json"
    with pytest.raises(OSError, match="missing"):
        sparsekgen.export(trained_unet(), sample(), str(description_path), str(tmp_path / "missing" / "m.st"))
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not RUN_NETWORK, reason=NO_RUN_NETWORK)
# The default bundle has no bf16 kernel for the stem's 3 input channels, none for the head's 5
# classes and no f32 one with the residual block's fused epilogue: the executor pads those channels
# and runs that epilogue element-wise. f32 layers run on tf32 kernels (10-bit mantissas).
@pytest.mark.parametrize("dtype,tolerance", [("f16", 2e-2), ("bf16", 5e-2), ("f32", 5e-3)])
def test_the_gpu_executor_runs_the_export_as_the_model_does(tmp_path, dtype, tolerance):
    model = trained_unet()
    x = sample(11)
    paths = str(tmp_path / "unet.json"), str(tmp_path / "unet.safetensors")
    sparsekgen.export(model, x, *paths, dtype=dtype)
    outputs = run_exported(*paths, x.coords, x.feats, tmp_path)
    model.eval()
    with torch.no_grad():
        expected = model(x).feats
    actual = torch.from_numpy(outputs["head"]).reshape(expected.shape)
    error = ((actual - expected).norm() / expected.norm()).item()
    print(f"{dtype}: executor against the PyTorch model, relative L2 error {error:.2e}")
    assert error <= tolerance
