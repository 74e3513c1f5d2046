"""Data-parallel training (sparsekgen.distributed, nn.convert_sync_batchnorm): the loss normalised by
the voxels of all ranks, batch norm converted with its state, and on a GPU two ranks (gloo, sharing
the one GPU where there is one) taking the same steps as one process with both scans
(bench/train_ddp.py). The two-rank run is skipped, with the reason, where the GPU path cannot run."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import DATA
from sparsekgen import distributed, gpu, nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def test_global_mean_without_a_process_group_is_the_plain_mean():
    logits = torch.randn(50, 8, dtype=torch.float64)
    labels = torch.randint(0, 8, (50,))
    labels[:5] = -100
    loss, reported = distributed.global_mean_cross_entropy(logits, labels)
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(loss, expected) and torch.allclose(reported, expected)


def test_convert_sync_batchnorm_keeps_parameters_statistics_and_mode():
    model = torch.nn.Sequential(nn.Conv3d(4, 16, 3), nn.BatchNorm(16), nn.ReLU(),
                                torch.nn.Sequential(nn.BatchNorm(16)))
    with torch.no_grad():
        model[1].weight.uniform_()
        model[1].bias.uniform_()
        model[1].running_mean.uniform_()
        model[3][0].running_var.fill_(3.0)
    model[3][0].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    converted = nn.convert_sync_batchnorm(model)
    assert isinstance(converted[1], nn.SyncBatchNorm) and isinstance(converted[3][0], nn.SyncBatchNorm)
    assert not converted[3][0].training and converted[1].training
    after = converted.state_dict()
    assert before.keys() == after.keys()
    for name, value in before.items():
        assert torch.equal(value, after[name]), name


@pytest.mark.skipif(gpu.unavailable_reason() is not None,
                    reason=f"GPU path unavailable: {gpu.unavailable_reason()}")
def test_two_ranks_take_the_steps_of_one_process(tmp_path):
    out = tmp_path / "ddp.json"
    scans = os.path.join(tmp_path, "scans")
    os.makedirs(scans)
    # Two copies of the test scan, shifted apart, as the global batch of two.
    import numpy as np
    points = np.fromfile(os.path.join(DATA, "kitti_000008.bin"), dtype=np.float32).reshape(-1, 4)
    points.tofile(os.path.join(scans, "a.bin"))
    shifted = points.copy()
    shifted[:, 0] += 3.0
    shifted.tofile(os.path.join(scans, "b.bin"))
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "train_ddp.py"), scans,
                    os.path.join(ROOT, "bench", "networks", "minkunet42_0.5x_seg.json"), "--scans", "a.bin", "b.bin",
                    "--ranks", "1", "2", "--steps", "4", "--out", str(out)], check=True, timeout=600)
    result = json.loads(out.read_text())
    one, two = result["runs"]
    assert one["ranks"] == 1 and two["ranks"] == 2
    assert all(torch.isfinite(torch.tensor(one["losses"])))
    assert one["losses"][-1] != one["losses"][0], "the parameters did not move"
    # fp32 throughout: the ranks differ from one process only in the order of reductions.
    assert two["max_relative_loss_difference"] < 1e-4, (one["losses"], two["losses"])
