"""Modules that act on every voxel's features alone: the torch modules, applied to ``feats``."""

from __future__ import annotations

import torch

from sparsekgen import trace
from sparsekgen.tensor import SparseTensor


class _OnFeatures:
    """Mixin: forward takes and returns a SparseTensor, the torch module's forward runs on its features."""

    def forward(self, x: SparseTensor) -> SparseTensor:
        out = x.replace(super().forward(x.feats))
        recorder = trace.active()
        if recorder is not None:
            recorder.pointwise(self, x, out)
        return out


class BatchNorm(_OnFeatures, torch.nn.BatchNorm1d):
    """Batch norm over all voxels of the batch (training: batch statistics and running averages)."""


class ReLU(_OnFeatures, torch.nn.ReLU):
    pass


class LeakyReLU(_OnFeatures, torch.nn.LeakyReLU):
    pass


class SiLU(_OnFeatures, torch.nn.SiLU):
    pass
