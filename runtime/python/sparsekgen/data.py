"""Voxelization and batching of point clouds (TorchSparse's sparse_quantize and sparse_collate)."""

from __future__ import annotations

from typing import List, Sequence, Union

import numpy as np
import torch

from sparsekgen.tensor import SparseTensor


def sparse_quantize(coords, voxel_size: Union[float, Sequence[float]] = 1, *, return_index: bool = False,
                    return_inverse: bool = False):
    """Voxel coordinates of points: floor(coords / voxel_size), one row per occupied voxel.

    ``coords`` [N, 3] (numpy or torch). Returns the int32 voxel coordinates [M, 3] in order of each
    voxel's first point, and with ``return_index`` the index of that point (so ``feats[index]`` are the
    kept points' features), with ``return_inverse`` the voxel of every point.
    """
    points = coords.detach().cpu().numpy() if isinstance(coords, torch.Tensor) else np.asarray(coords)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"coords must be [N, 3], not {list(points.shape)}")
    size = np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,))
    if not np.all(size > 0):
        raise ValueError(f"voxel_size must be positive, not {voxel_size!r}")
    voxels = np.floor(points / size)
    if not np.all(np.isfinite(voxels)):
        row = int(np.flatnonzero(~np.isfinite(voxels).all(axis=1))[0])
        raise ValueError(f"coords row {row} is not finite: {points[row].tolist()}")
    if np.abs(voxels).max(initial=0) >= 2**30:
        row = int(np.flatnonzero((np.abs(voxels) >= 2**30).any(axis=1))[0])
        raise ValueError(f"coords row {row} lies outside the voxel range [-2^30, 2^30) at this voxel size")
    voxels = voxels.astype(np.int32)
    _, index, inverse = np.unique(voxels, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(index, kind="stable")  # voxels in order of their first point
    index = index[order]
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    outputs = [voxels[index]]
    if return_index:
        outputs.append(index)
    if return_inverse:
        outputs.append(rank[inverse.reshape(-1)])
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def sparse_collate(inputs: List[SparseTensor]) -> SparseTensor:
    """One batch of single-scan tensors: rows concatenated, the batch column set to each one's position."""
    if not inputs:
        raise ValueError("sparse_collate needs at least one tensor")
    strides = {t.stride for t in inputs}
    if len(strides) != 1:
        raise ValueError(f"sparse_collate: tensors of different strides {sorted(strides)}")
    coords = []
    for batch, tensor in enumerate(inputs):
        c = tensor.coords.clone()
        c[:, 0] = batch
        coords.append(c)
    return SparseTensor(torch.cat([t.feats for t in inputs]), torch.cat(coords), inputs[0].stride)
