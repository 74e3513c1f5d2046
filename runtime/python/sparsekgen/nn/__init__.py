"""Modules on sparse tensors: convolution, batch norm, activations."""

from sparsekgen.nn.conv import Conv3d
from sparsekgen.nn.pointwise import BatchNorm, LeakyReLU, ReLU, SiLU, SyncBatchNorm, convert_sync_batchnorm

__all__ = ["Conv3d", "BatchNorm", "SyncBatchNorm", "convert_sync_batchnorm", "ReLU", "LeakyReLU", "SiLU"]
