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


class SyncBatchNorm(_OnFeatures, torch.nn.SyncBatchNorm):
    """Batch norm whose training statistics cover the voxels of every rank of a process group
    (torch.nn.SyncBatchNorm on the features; NCCL, or gloo for ranks sharing a GPU)."""


def convert_sync_batchnorm(module: torch.nn.Module, process_group=None) -> torch.nn.Module:
    """``module`` with every sparsekgen BatchNorm replaced by a SyncBatchNorm holding its parameters,
    running statistics and mode (what torch.nn.SyncBatchNorm.convert_sync_batchnorm does for dense
    modules, which would drop the sparse-tensor forward)."""
    if isinstance(module, BatchNorm):
        converted = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                  module.track_running_stats, process_group)
        if module.affine:
            with torch.no_grad():
                converted.weight.copy_(module.weight)
                converted.bias.copy_(module.bias)
        converted.running_mean = module.running_mean
        converted.running_var = module.running_var
        converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
        return converted.to(module.weight.device if module.affine else module.running_mean.device)
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, process_group))
    return module


class ReLU(_OnFeatures, torch.nn.ReLU):
    pass


class LeakyReLU(_OnFeatures, torch.nn.LeakyReLU):
    pass


class SiLU(_OnFeatures, torch.nn.SiLU):
    pass
