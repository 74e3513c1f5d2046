"""Voxelization, batching and the sparse tensor's own checks."""

import numpy as np
import pytest
import torch

from sparsekgen import SparseTensor, sparse_collate, sparse_quantize


def test_quantize_keeps_each_voxels_first_point_in_order():
    points = np.array([[0.1, 0.1, 0.1], [2.5, 0.0, 0.0], [0.4, 0.2, 0.3], [-0.1, 0.0, 0.0], [2.1, 0.9, 0.5]])
    voxels, index, inverse = sparse_quantize(points, 1.0, return_index=True, return_inverse=True)
    assert voxels.tolist() == [[0, 0, 0], [2, 0, 0], [-1, 0, 0]]
    assert index.tolist() == [0, 1, 3]
    assert inverse.tolist() == [0, 1, 0, 2, 1]
    assert voxels.dtype == np.int32
    assert np.array_equal(voxels[inverse], np.floor(points).astype(np.int32))


def test_quantize_takes_a_voxel_size_per_axis_and_refuses_bad_input():
    assert sparse_quantize(np.array([[1.0, 1.0, 1.0]]), (0.5, 1.0, 2.0)).tolist() == [[2, 1, 0]]
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        sparse_quantize(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="positive"):
        sparse_quantize(np.zeros((4, 3)), 0)
    with pytest.raises(ValueError, match="row 1 is not finite"):
        sparse_quantize(np.array([[0.0, 0, 0], [np.nan, 0, 0]]))
    with pytest.raises(ValueError, match="row 0 lies outside"):
        sparse_quantize(np.array([[1e12, 0, 0]]))


def test_collate_numbers_the_batches():
    a = SparseTensor(torch.ones(2, 3), torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0]], dtype=torch.int32))
    b = SparseTensor(torch.zeros(1, 3), torch.tensor([[0, 5, 5, 5]], dtype=torch.int32))
    batch = sparse_collate([a, b])
    assert batch.coords[:, 0].tolist() == [0, 0, 1]
    assert batch.feats.shape == (3, 3)
    with pytest.raises(ValueError, match="at least one"):
        sparse_collate([])


def test_sparse_tensor_refuses_mismatched_parts():
    coords = torch.zeros(3, 4, dtype=torch.int32)
    with pytest.raises(ValueError, match="int32"):
        SparseTensor(torch.ones(3, 2), coords.long())
    with pytest.raises(ValueError, match="3 rows but coords 2"):
        SparseTensor(torch.ones(3, 2), coords[:2])
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        SparseTensor(torch.ones(3, 2), coords[:, :3])
    with pytest.raises(ValueError, match=r"row 1 \[0, 2, 1, 0\] is not a multiple of the stride"):
        SparseTensor(torch.ones(2, 2), torch.tensor([[0, 2, 2, 0], [0, 2, 1, 0]], dtype=torch.int32), stride=2)
