"""Shared inputs and helpers: small random clouds with unique, non-negative voxel coordinates, a
crop of a real KITTI scan, and TorchSparse's own backbones rewritten onto sparsekgen.torchsparse."""

import contextlib
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import sparsekgen

DATA = os.environ.get("SPARSEKGEN_TEST_DATA",
                      os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "data"))


def random_cloud(points: int, extent: int, batches: int = 1, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(0, extent, (points, 3), generator=generator)
    batch = torch.randint(0, batches, (points, 1), generator=generator)
    return torch.unique(torch.cat([batch, rows], 1), dim=0).int()


@pytest.fixture
def cloud():
    return random_cloud(300, 9, batches=2, seed=1)


def kitti_crop(extent_m=12.0, voxel_m=0.1) -> torch.Tensor:
    """Voxels (batch 0) of the points of kitti_000008.bin within extent_m of the sensor on x and y."""
    points = np.fromfile(os.path.join(DATA, "kitti_000008.bin"), dtype=np.float32).reshape(-1, 4)
    near = points[(np.abs(points[:, 0]) < extent_m) & (np.abs(points[:, 1]) < extent_m)]
    voxels = sparsekgen.sparse_quantize(near[:, :3], voxel_m)
    return torch.cat([torch.zeros(len(voxels), 1, dtype=torch.int32), torch.from_numpy(voxels)], 1)


@contextlib.contextmanager
def backbones_on_sparsekgen(backbones_dir: str, workdir):
    """TorchSparse's ``backbones`` package (the directory ``backbones_dir``) copied into ``workdir`` as
    ``ts_backbones`` with its imports of torchsparse changed to sparsekgen.torchsparse and nothing
    else: the import change a TorchSparse user makes."""
    target = os.path.join(str(workdir), "ts_backbones")
    shutil.copytree(backbones_dir, target)
    for root, _, files in os.walk(target):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                text = open(path).read()
                text = re.sub(r"^import torchsparse$", "import sparsekgen.torchsparse as torchsparse", text,
                              flags=re.M)
                text = re.sub(r"^from torchsparse", "from sparsekgen.torchsparse", text, flags=re.M)
                open(path, "w").write(text)
    sys.path.insert(0, str(workdir))
    try:
        import ts_backbones
        yield ts_backbones
    finally:
        sys.path.remove(str(workdir))
        for module in [m for m in sys.modules if m == "ts_backbones" or m.startswith("ts_backbones.")]:
            del sys.modules[module]


RUN_NETWORK = os.environ.get("SPARSEKGEN_RUN_NETWORK")
NO_RUN_NETWORK = ("SPARSEKGEN_RUN_NETWORK does not name a built sparsekgen-run-network (it needs a GPU: the test "
                  "runs the export on the C++ executor)")


def run_exported(description_path, weights_path, coords: torch.Tensor, feats: torch.Tensor, workdir) -> dict:
    """The outputs {name: float32 array [rows, channels], rows as the level's coordinates} of an
    exported description run by sparsekgen-run-network on ``coords`` / ``feats``; skips without a GPU."""
    workdir = str(workdir)
    coords.cpu().int().numpy().tofile(os.path.join(workdir, "coords.i32"))
    feats.detach().cpu().numpy().astype(np.float32).tofile(os.path.join(workdir, "feats.f32"))
    out = os.path.join(workdir, "out")
    return _outputs_of([RUN_NETWORK, str(description_path), str(weights_path), os.path.join(workdir, "coords.i32"),
                        os.path.join(workdir, "feats.f32"), "-o", out], out)


RUN_GRAPH_NETWORK = os.environ.get("SPARSEKGEN_RUN_GRAPH_NETWORK")
NO_RUN_GRAPH_NETWORK = ("SPARSEKGEN_RUN_GRAPH_NETWORK does not name a built sparsekgen-run-graph-network (it needs a "
                        "GPU and the graph bundle: the test runs the export on the C++ graph executor)")


def run_exported_graph(description_path, weights_path, graph_path, feats: torch.Tensor, workdir,
                       extra_args=()) -> dict:
    """The outputs {name: float32 array [nodes * channels]} of an exported graph network run by
    sparsekgen-run-graph-network on a graph document and ``feats``; skips without a GPU."""
    workdir = str(workdir)
    feats.detach().cpu().numpy().astype(np.float32).tofile(os.path.join(workdir, "feats.f32"))
    out = os.path.join(workdir, "out")
    return _outputs_of([RUN_GRAPH_NETWORK, str(description_path), str(weights_path), str(graph_path), "--features",
                        os.path.join(workdir, "feats.f32"), "-o", out, *extra_args], out)


def _outputs_of(command, out) -> dict:
    """Runs an example program writing <output>.f32 files into ``out``; skips where it finds no GPU."""
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode == 3 or "libcuda" in run.stderr:
        pytest.skip(f"no GPU here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    return {name[:-len(".f32")]: np.fromfile(os.path.join(out, name), dtype=np.float32)
            for name in os.listdir(out) if name.endswith(".f32")}


def random_relational_graph(nodes: int, edges: int, relations: int, seed: int = 0):
    """(edge_index [2, E], edge_type [E]) int64 with skewed relation and in-degree counts (relation r's
    share proportional to 1 / (r + 1), low node ids as hub destinations), self loops and duplicates
    left in as PyG keeps them."""
    generator = torch.Generator().manual_seed(seed)
    shares = 1.0 / torch.arange(1, relations + 1, dtype=torch.float64)
    edge_type = torch.multinomial(shares, edges, replacement=True, generator=generator)
    src = torch.randint(0, nodes, (edges,), generator=generator)
    dst = (nodes * torch.rand(edges, generator=generator, dtype=torch.float64) ** 3).long().clamp(max=nodes - 1)
    return torch.stack([src, dst]), edge_type
